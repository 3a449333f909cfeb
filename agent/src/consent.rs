//! The session's consent policy: who says yes to a state-changing request.
//!
//! The browser holds every such request (see `browser::consent`) and asks here. The
//! decision is a pure function of the mode (`--confirm`), `--dry-run`, whether a person is
//! at a terminal, the allowlist file's `[[submit]]` rules and the sites approved for this
//! session, tested from a table. When it says "ask", one prompt at a time shows the
//! request on the terminal and waits at most `--confirm-timeout`; no answer is a no.
//! Every request, decision and who decided is recorded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use browser::{Submission, Verdict};
use futures::future::BoxFuture;
use recordings::{Record, Recorder};

/// `--confirm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Confirm {
    /// Ask a person (without a terminal: deny)
    Ask,
    /// Deny every state-changing request
    Deny,
    /// Send every state-changing request without asking
    Approve,
}

/// Who decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Person,
    Rule,
    Session,
    Policy,
    DryRun,
    Timeout,
    /// Not among the submissions of the plan being carried out (`replay --execute`).
    Plan,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Person => "person",
            By::Rule => "rule",
            By::Session => "session approval",
            By::Policy => "policy",
            By::DryRun => "dry run",
            By::Timeout => "timeout",
            By::Plan => "plan",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow(By),
    Deny(By),
    Ask,
}

/// scheme://host:port/path of a URL (query and fragment dropped), for rule matching.
fn endpoint(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

/// The origin of a URL, the unit of "approve this site's submissions".
pub fn site(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// The pure decision.
pub fn decide(mode: Confirm, dry_run: bool, interactive: bool, rules: &[String], approved: &[String], url: &str) -> Decision {
    if dry_run {
        return Decision::Deny(By::DryRun);
    }
    if let Some(e) = endpoint(url) {
        if rules.iter().any(|r| endpoint(r).as_deref() == Some(e.as_str())) {
            return Decision::Allow(By::Rule);
        }
    }
    if approved.contains(&site(url)) {
        return Decision::Allow(By::Session);
    }
    match mode {
        Confirm::Approve => Decision::Allow(By::Policy),
        Confirm::Deny => Decision::Deny(By::Policy),
        Confirm::Ask if interactive => Decision::Ask,
        Confirm::Ask => Decision::Deny(By::Policy),
    }
}

/// A submission a dry run planned: what `errand replay --execute` may send.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub method: String,
    pub url: String,
    /// The fields' names (their values may differ: a form's token changes per visit).
    pub fields: Vec<String>,
}

impl Planned {
    pub fn new(method: &str, url: &str, fields: &[(String, String)]) -> Planned {
        let mut names: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        Planned { method: method.to_ascii_uppercase(), url: without_fragment(url), fields: names }
    }
}

fn without_fragment(url: &str) -> String {
    url.split('#').next().unwrap_or(url).to_string()
}

/// Which planned submission (not yet used) a request is: the same method, the same
/// address (query included) and the same field names. `None`: it is not in the plan.
pub fn in_plan(left: &[Planned], method: &str, url: &str, fields: &[(String, String)]) -> Option<usize> {
    let want = Planned::new(method, url, fields);
    left.iter().position(|p| *p == want)
}

/// The plan a person approved, while `errand replay --execute` carries it out: each of
/// its submissions may be sent once (and is still decided as any other: asked, a rule,
/// or `--confirm approve`); anything else a page sends is declined and noted, and the
/// replay stops there.
#[derive(Debug, Default)]
pub struct Plan {
    left: Mutex<Vec<Planned>>,
    /// Requests declined for not being in the plan, as "METHOD URL".
    pub off_plan: Mutex<Vec<String>>,
}

impl Plan {
    pub fn new(planned: Vec<Planned>) -> Plan {
        Plan { left: Mutex::new(planned), off_plan: Mutex::default() }
    }

    /// The planned submissions not sent (yet).
    pub fn left(&self) -> Vec<Planned> {
        self.left.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Take the planned submission `s` is, so no other request can be it too.
    fn take(&self, s: &Submission) -> Option<Planned> {
        let mut left = self.left.lock().unwrap_or_else(|p| p.into_inner());
        match in_plan(&left, &s.method, &s.url, &s.fields) {
            Some(i) => Some(left.remove(i)),
            None => {
                drop(left);
                self.off_plan.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{} {}", s.method, s.url));
                None
            }
        }
    }

    /// Give back a planned submission that was not sent after all (declined).
    fn give_back(&self, p: Planned) {
        self.left.lock().unwrap_or_else(|p| p.into_inner()).push(p);
    }
}

/// The answers to "send it?" as a person at an agent host is offered them.
pub const SEND_ONCE: &str = "send once";
pub const ALLOW_SITE: &str = "allow this site for the session";
pub const DECLINE: &str = "decline";

/// Asks a person somewhere other than errand's terminal (an agent host's window, through
/// MCP elicitation): `question` with these `answers` to pick from, the last of which is
/// no (what declining the question means). `None`: no answer in time, or a host that
/// could not ask.
pub trait Asker: Send + Sync {
    fn choose(&self, question: String, answers: Vec<&'static str>, timeout: Duration) -> BoxFuture<'static, Option<&'static str>>;
}

pub struct Inner {
    pub mode: Confirm,
    pub dry_run: bool,
    pub interactive: bool,
    pub rules: Vec<String>,
    pub timeout: Duration,
    approved: Mutex<Vec<String>>,
    prompt: tokio::sync::Mutex<()>,
    rec: Recorder,
    /// Requests a dry run denied, for the end of the run.
    pub would: Mutex<Vec<Submission>>,
    /// Set when the person answers "abort".
    pub abort: Arc<tokio::sync::Notify>,
    pub aborted: AtomicBool,
    /// Who asks instead of the terminal, if anyone.
    pub asker: Option<Arc<dyn Asker>>,
    /// The plan being carried out, if this is `errand replay --execute`.
    pub plan: std::sync::OnceLock<Arc<Plan>>,
}

/// The session's consent policy, shared with the browser.
#[derive(Clone)]
pub struct SessionConsent(pub Arc<Inner>);

impl SessionConsent {
    /// `asker`: who asks instead of errand's terminal (an agent host), if anyone.
    pub fn new(
        mode: Confirm,
        dry_run: bool,
        interactive: bool,
        rules: Vec<String>,
        timeout: Duration,
        rec: Recorder,
        asker: Option<Arc<dyn Asker>>,
    ) -> SessionConsent {
        SessionConsent(Arc::new(Inner {
            mode,
            dry_run,
            interactive,
            rules,
            timeout,
            approved: Mutex::default(),
            prompt: tokio::sync::Mutex::new(()),
            rec,
            would: Mutex::default(),
            abort: Arc::new(tokio::sync::Notify::new()),
            aborted: AtomicBool::new(false),
            asker,
            plan: std::sync::OnceLock::new(),
        }))
    }

    /// What errand says at start about this policy, if anything.
    pub fn notice(&self) -> Option<String> {
        let i = &self.0;
        if i.dry_run {
            return Some("dry run: every form submission and state-changing request will be denied and listed at the end".into());
        }
        match i.mode {
            Confirm::Approve => {
                Some("warning: --confirm approve: every form submission and state-changing request will be sent without asking".into())
            }
            Confirm::Deny => Some("--confirm deny: form submissions and state-changing requests will be denied".into()),
            Confirm::Ask if !i.interactive && i.asker.is_none() => Some(
                "no terminal to ask at: form submissions and state-changing requests will be denied (pass --confirm approve to send them)"
                    .into(),
            ),
            Confirm::Ask => None,
        }
    }
}

/// The prompt's text for a request. Everything but the method and URL is the page's own
/// text, shown with control characters escaped (an ANSI escape or a newline in a legend
/// could otherwise redraw the prompt); the method and URL errand saw come last, where
/// nothing the page wrote can stand after them.
pub fn describe(s: &Submission) -> String {
    let mut t = String::from("errand: the page wants to send a request\n");
    t.push_str(&format!("  page:    {}\n", shown(&s.page, 200)));
    if !s.frame.is_empty() {
        t.push_str(&format!("  frame:   {}\n", shown(&s.frame, 200)));
    }
    if !s.purpose.is_empty() {
        t.push_str(&format!("  purpose: {}\n", shown(&s.purpose, 200)));
    }
    for (i, (k, v)) in s.fields.iter().enumerate() {
        t.push_str(&format!("  {} {} = {}\n", if i == 0 { "fields: " } else { "        " }, shown(k, 60), shown(v, 120)));
    }
    if !s.body.is_empty() {
        t.push_str(&format!("  body:    {}\n", shown(&s.body, 200)));
    }
    t.push_str(&format!("  sends:   {} {}\n", shown(&s.method, 20), shown(&s.url, 500)));
    t
}

/// Page-supplied text for the terminal: control characters (ANSI escapes, newlines,
/// carriage returns) and bidirectional overrides escaped, cut to `max` characters.
pub fn shown(text: &str, max: usize) -> String {
    let mut o = String::new();
    for (n, c) in text.chars().enumerate() {
        if n >= max {
            o.push('…');
            break;
        }
        match c {
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c) => {
                o.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

impl browser::Consent for SessionConsent {
    fn decide(&self, s: Submission) -> BoxFuture<'static, Verdict> {
        let inner = self.0.clone();
        Box::pin(async move {
            let approved = inner.approved.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let mut d = decide(inner.mode, inner.dry_run, inner.interactive, &inner.rules, &approved, &s.url);
            // Carrying out a plan: only what it planned, each once.
            let planned = match inner.plan.get() {
                Some(plan) => match plan.take(&s) {
                    Some(p) => Some((plan, p)),
                    None => {
                        d = Decision::Deny(By::Plan);
                        None
                    }
                },
                None => None,
            };
            if d == Decision::Ask {
                // One prompt at a time; a second request waits its turn.
                let _turn = inner.prompt.lock().await;
                let approved = inner.approved.lock().unwrap_or_else(|p| p.into_inner()).clone();
                d = decide(inner.mode, inner.dry_run, inner.interactive, &inner.rules, &approved, &s.url);
                if d == Decision::Ask {
                    d = ask(&inner, &s).await;
                }
            }
            let (verdict, by) = match d {
                Decision::Allow(by) => (Verdict::Allow, by),
                Decision::Deny(by) => {
                    let why = match by {
                        By::Person => "the user declined this submission",
                        By::DryRun => "dry run: errand sends no submissions in a dry run",
                        By::Timeout => "the user did not answer in time, so this submission was declined",
                        By::Plan => "this request is not in the plan the user approved, so it was declined",
                        _ => "submissions are denied in this run",
                    };
                    (Verdict::Deny(why.into()), by)
                }
                Decision::Ask => (Verdict::Deny("the user declined this submission".into()), By::Person),
            };
            if let (Some((plan, p)), false) = (planned, verdict == Verdict::Allow) {
                plan.give_back(p);
            }
            if by == By::DryRun {
                inner.would.lock().unwrap_or_else(|p| p.into_inner()).push(s.clone());
            }
            inner.rec.log(Record::Consent {
                method: s.method.clone(),
                url: s.url.clone(),
                page: s.page.clone(),
                purpose: s.purpose.clone(),
                fields: s.fields.clone(),
                decision: if verdict == Verdict::Allow { "allow" } else { "deny" }.into(),
                by: by.as_str().into(),
            });
            if inner.aborted.load(Ordering::SeqCst) {
                inner.abort.notify_one();
            }
            verdict
        })
    }
}

async fn ask(inner: &Arc<Inner>, s: &Submission) -> Decision {
    if let Some(asker) = &inner.asker {
        // What the page wants to send, with any secret typed this session masked.
        let question = inner.rec.secrets().redact(&describe(s));
        return match asker.choose(question, vec![SEND_ONCE, ALLOW_SITE, DECLINE], inner.timeout).await {
            Some(SEND_ONCE) => Decision::Allow(By::Person),
            Some(ALLOW_SITE) => {
                inner.approved.lock().unwrap_or_else(|p| p.into_inner()).push(site(&s.url));
                Decision::Allow(By::Person)
            }
            Some(_) => Decision::Deny(By::Person),
            None => Decision::Deny(By::Timeout),
        };
    }
    let question = format!("{}  Send it? [y]es once, yes for this [s]ite this session, [n]o, [a]bort the run [n] ", describe(s));
    let timeout = inner.timeout;
    let line = match tokio::task::spawn_blocking(move || crate::narrate::prompt(&question, timeout)).await {
        Ok(Some(l)) => l.trim().to_ascii_lowercase(),
        _ => {
            errln!("\n    no answer within {} s: declined", inner.timeout.as_secs());
            return Decision::Deny(By::Timeout);
        }
    };
    match line.as_str() {
        "y" | "yes" => {
            errln!("    sending it");
            Decision::Allow(By::Person)
        }
        "s" | "site" => {
            inner.approved.lock().unwrap_or_else(|p| p.into_inner()).push(site(&s.url));
            errln!("    sending it, and {}'s further submissions this session", site(&s.url));
            Decision::Allow(By::Person)
        }
        "a" | "abort" => {
            errln!("    declined; stopping the run");
            // The run stops once this decision is recorded (see `decide`).
            inner.aborted.store(true, Ordering::SeqCst);
            Decision::Deny(By::Person)
        }
        _ => {
            errln!("    declined");
            Decision::Deny(By::Person)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_cannot_redraw_the_prompt() {
        let s = Submission {
            method: "POST".into(),
            url: "http://shop.example/pay".into(),
            page: "http://shop.example/".into(),
            frame: String::new(),
            resource: "Document".into(),
            purpose: "Donate\x1b[2K\x1b[1A\rerrand: the page wants to send GET http://safe.example/\n  purpose: nothing".into(),
            fields: vec![("amount\u{202e}".into(), "100\r\n  sends:   GET http://safe.example/".into())],
            body: String::new(),
        };
        let t = describe(&s);
        assert!(!t.contains('\x1b') && !t.contains('\r') && !t.contains('\u{202e}'), "{t:?}");
        // One line per item, and the real request last.
        assert_eq!(t.lines().count(), 5, "{t}");
        assert_eq!(t.lines().last().unwrap(), "  sends:   POST http://shop.example/pay");
        assert!(t.contains("\\u{1b}[2K") && t.contains("\\n  purpose"), "{t}");
    }

    #[test]
    fn decisions_from_a_table() {
        let rules = vec!["https://intranet.example/search".to_string()];
        let approved = vec!["http://shop.example".to_string()];
        let post = "https://intranet.example/search?q=1";
        let other = "https://intranet.example/delete";
        let shop = "http://shop.example/cart/add";
        use Confirm::{Approve, Ask as A, Deny as D};
        use Decision::{Allow, Ask, Deny};
        let table: &[(Confirm, bool, bool, &str, Decision)] = &[
            (A, false, true, other, Ask),
            (A, false, false, other, Deny(By::Policy)),
            (D, false, true, other, Deny(By::Policy)),
            (Approve, false, false, other, Allow(By::Policy)),
            (A, false, false, post, Allow(By::Rule)),
            (D, false, true, post, Allow(By::Rule)),
            (A, false, true, shop, Allow(By::Session)),
            (Approve, true, true, post, Deny(By::DryRun)),
            (A, true, true, shop, Deny(By::DryRun)),
        ];
        for (mode, dry, tty, url, want) in table {
            assert_eq!(decide(*mode, *dry, *tty, &rules, &approved, url), *want, "{mode:?} dry={dry} tty={tty} {url}");
        }
    }

    #[test]
    fn a_plan_matches_method_address_and_field_names_each_once() {
        let f = |names: &[&str]| names.iter().map(|n| (n.to_string(), "v".to_string())).collect::<Vec<_>>();
        let left = vec![Planned::new("POST", "http://a.test/echo?route=native", &f(&["user", "password"]))];
        type Case = (&'static str, &'static str, Vec<(String, String)>, Option<usize>);
        let table: &[Case] = &[
            ("POST", "http://a.test/echo?route=native", f(&["user", "password"]), Some(0)),
            // Field values and order, the method's case and the fragment do not matter.
            ("post", "http://a.test/echo?route=native#top", f(&["password", "user"]), Some(0)),
            // Another query, path, host, method or set of fields is another request.
            ("POST", "http://a.test/echo?route=other", f(&["user", "password"]), None),
            ("POST", "http://a.test/echo", f(&["user", "password"]), None),
            ("POST", "http://b.test/echo?route=native", f(&["user", "password"]), None),
            ("PUT", "http://a.test/echo?route=native", f(&["user", "password"]), None),
            ("POST", "http://a.test/echo?route=native", f(&["user", "password", "card"]), None),
            ("POST", "http://a.test/echo?route=native", f(&["user"]), None),
        ];
        for (method, url, fields, want) in table {
            assert_eq!(in_plan(&left, method, url, fields), *want, "{method} {url} {fields:?}");
        }
        // Taken once, it is gone: a second identical request is not in the plan.
        let plan = Plan::new(left);
        let s = Submission {
            method: "POST".into(),
            url: "http://a.test/echo?route=native".into(),
            page: String::new(),
            frame: String::new(),
            resource: "Document".into(),
            purpose: String::new(),
            fields: f(&["user", "password"]),
            body: String::new(),
        };
        let p = plan.take(&s).expect("planned");
        assert!(plan.take(&s).is_none());
        assert_eq!(*plan.off_plan.lock().unwrap(), vec!["POST http://a.test/echo?route=native".to_string()]);
        // Declined, it may be asked for again.
        plan.give_back(p);
        assert!(plan.take(&s).is_some());
    }
}

//! Starting a [`Browser`]: launch Chromium behind errand's proxy and flags, or attach to
//! one over `--cdp-url`, and decide which enforcement layers are in force in each mode.

use std::sync::{Arc, Mutex};

use crate::{gate, launch, proxy, shortcut, tls, upstream, Blocked, Browser, BrowserError, Cdp, Options, Reached, Result, Source, State};

/// How [`Browser::layers`] names the interception layer, in both modes.
const CDP_LAYER: &str = "cdp: every request of every page, frame, popup and worker is intercepted and judged";

impl Browser {
    /// Launch Chromium or attach to one, and open errand's tab.
    pub async fn start(source: Source, opts: Options) -> Result<Browser> {
        match source {
            Source::Launch(mut l) => {
                let mut opts = opts;
                let blocked: Arc<Mutex<Vec<Blocked>>> = Arc::default();
                let proxied = (opts.guard.is_some() || opts.consent.is_some() || !opts.secrets.is_empty()) && opts.proxy_layer;
                let intercept = resolve_intercept(&mut opts, proxied);
                let mut layers = vec![];
                if opts.guard.is_some() && intercept {
                    layers.push(CDP_LAYER.to_string());
                }
                let mut proxy = None;
                if proxied {
                    // A certificate authority for this launch only: the proxy opens https
                    // to see (and hold) what each request does, and Chromium accepts the
                    // one key its certificates carry, for this launch only.
                    let authority = Arc::new(tls::Authority::new()?);
                    let client_tls = tls::client_config(&opts.trust_ca)?;
                    let setup = proxy::Setup {
                        guard: opts.guard.clone(),
                        blocked: blocked.clone(),
                        mitm: Some(authority.clone()),
                        consent: opts.consent.is_some() && !intercept,
                        client_tls,
                        route: opts.upstream.clone(),
                        secrets: opts.secrets.clone(),
                    };
                    let p = proxy::start(setup).await.map_err(BrowserError::Proxy)?;
                    // Loopback goes through the proxy too. Chromium's own background calls
                    // (update and account services, which no switch silences) skip it and
                    // die at the resolver below, so they never reach the network nor fill
                    // the record; a page's attempt on those hosts dies there too, and the
                    // event task records it as the page's (see `Network.loadingFailed`).
                    // Only hosts the allowlist refuses anyway skip the proxy.
                    let skipped: Vec<&str> = proxy::CHROMIUM_SERVICES
                        .iter()
                        .copied()
                        .filter(|h| opts.guard.as_ref().is_none_or(|g| g.judge(&format!("https://{h}/")).is_some()))
                        .collect();
                    let bypass = format!("--proxy-bypass-list=<-loopback>;{}", skipped.join(";"));
                    l.extra_args.extend([
                        format!("--proxy-server=http://{}", p.addr),
                        bypass,
                        // The proxy is the only name Chromium needs, and it is an IP literal.
                        format!("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {}", p.addr.ip()),
                        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp".to_string(),
                        "--webrtc-ip-handling-policy=disable_non_proxied_udp".to_string(),
                        format!("--ignore-certificate-errors-spki-list={}", authority.spki_hash()),
                    ]);
                    if opts.guard.is_some() {
                        layers.extend([
                            format!("proxy: every HTTP, HTTPS and WebSocket request of every page, frame, popup and worker goes through errand's filtering proxy at {} and is judged", p.addr),
                            "flags: Chromium resolves no host names itself and fails requests to hosts the allowlist refuses before they reach the proxy; WebRTC sends no UDP outside the proxy; QUIC is off".to_string(),
                        ]);
                    }
                    if let Some(via) = &p.via {
                        layers.push(format!("upstream: servers are reached through the network's proxy {via}, after errand's own checks"));
                    }
                    if opts.consent.is_some() && !intercept {
                        layers.push("consent: every state-changing request (forms, POST/PUT/DELETE, beacons) is held in errand's proxy, which opens https with a certificate authority made for this run only".to_string());
                    }
                    proxy = Some(p);
                }
                let shortcut = opts.guard.clone().filter(|_| proxied && !intercept).map(|g| Arc::new(shortcut::Shortcut::new(g)));
                let (profile, dir) = match &l.profile {
                    Some(p) => {
                        std::fs::create_dir_all(p).map_err(BrowserError::Profile)?;
                        (None, p.clone())
                    }
                    None => {
                        let t = tempfile::Builder::new().prefix("errand-profile-").tempdir().map_err(BrowserError::Profile)?;
                        let d = t.path().to_path_buf();
                        (Some(t), d)
                    }
                };
                let launched = launch::launch(&l, &dir, opts.launch_timeout).await?;
                let (cdp, events) = Cdp::connect(&launched.ws_url, opts.call_timeout).await?;
                let st: Arc<Mutex<State>> = Arc::default();
                if let (Some(p), Some(consent)) = (&proxy, opts.consent.clone().filter(|_| !intercept)) {
                    p.set_gate(Arc::new(gate::ConsentGate { cdp: cdp.clone(), st: st.clone(), consent, blocked: blocked.clone() }));
                }
                let b = Browser {
                    cdp,
                    st,
                    opts,
                    refs: Mutex::default(),
                    child: tokio::sync::Mutex::new(Some(launched.child)),
                    profile: Mutex::new(profile),
                    description: format!("launched {}", launched.executable.display()),
                    launched: true,
                    blocked,
                    blocked_shown: Mutex::new(0),
                    picture: Default::default(),
                    changed: Default::default(),
                    layers,
                    _proxy: proxy,
                    shortcut,
                };
                b.init(events, Reached::Launched).await?;
                Ok(b)
            }
            Source::Attach(url) => {
                let mut opts = opts;
                resolve_intercept(&mut opts, false);
                let ws = launch::resolve_cdp_url(&url, opts.call_timeout).await?;
                let (cdp, events) = Cdp::connect(&ws, opts.call_timeout).await?;
                let blocked: Arc<Mutex<Vec<Blocked>>> = Arc::default();
                // errand's browser context sends its traffic through errand's proxy when the
                // browser can reach it (it runs on this machine): that covers what a
                // DevTools session misses (requests of targets going away or not yet set up,
                // speculative loads, WebSocket handshakes). The proxy cannot open https
                // here (this browser was not told to trust errand's key, and must not trust
                // it for the user's other tabs), so consent stays with interception.
                let local = url::Url::parse(&ws).ok().and_then(|u| u.host_str().map(upstream::is_loopback)).unwrap_or(false);
                let mut proxy = None;
                if opts.guard.is_some() && opts.proxy_layer && local {
                    let setup = proxy::Setup {
                        guard: opts.guard.clone(),
                        blocked: blocked.clone(),
                        mitm: None,
                        consent: false,
                        client_tls: tls::client_config(&opts.trust_ca)?,
                        route: opts.upstream.clone(),
                        secrets: opts.secrets.clone(),
                    };
                    proxy = Some(proxy::start(setup).await.map_err(BrowserError::Proxy)?);
                }
                let proxy_addr = proxy.as_ref().map(|p| p.addr);
                let layers = match (&opts.guard, &proxy) {
                    (None, _) => vec![],
                    (Some(_), Some(p)) => vec![
                        CDP_LAYER.to_string(),
                        format!("proxy: errand's browser context sends every HTTP, HTTPS and WebSocket request through errand's filtering proxy at {}, which judges it again", p.addr),
                        "not active: the launch flags (errand did not start this browser); DNS prefetch and WebRTC (STUN) are not covered in this mode".to_string(),
                    ],
                    (Some(_), None) => vec![
                        CDP_LAYER.to_string(),
                        "not active: the filtering proxy (the browser is on another machine) and launch flags (errand did not start this browser); WebSocket handshakes, preconnects, DNS prefetch and WebRTC (STUN) are not covered in this mode".to_string(),
                    ],
                };
                let b = Browser {
                    cdp,
                    st: Arc::default(),
                    opts,
                    refs: Mutex::default(),
                    child: tokio::sync::Mutex::new(None),
                    profile: Mutex::new(None),
                    description: format!("attached to {url}"),
                    launched: false,
                    blocked,
                    blocked_shown: Mutex::new(0),
                    picture: Default::default(),
                    changed: Default::default(),
                    layers,
                    _proxy: proxy,
                    shortcut: None,
                };
                b.init(events, Reached::Attached { proxy: proxy_addr }).await?;
                Ok(b)
            }
        }
    }
}

/// Settle [`Options::intercept`] once, before any target attaches: on only when there is
/// something to judge or hold and no proxy of errand's to do it (attached browsers),
/// because a DevTools session misses what a target sends as it goes away or before it is
/// set up. An explicit `Some(true)` (benchmarks) keeps it on whenever there is anything
/// to judge, `Some(false)` keeps it off.
fn resolve_intercept(opts: &mut Options, proxied: bool) -> bool {
    let anything = opts.guard.is_some() || opts.consent.is_some();
    let on = match opts.intercept {
        Some(false) => false,
        Some(true) => anything,
        None => anything && !proxied,
    };
    opts.intercept = Some(on);
    on
}

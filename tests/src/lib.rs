//! Fixture sites for errand's end-to-end tests, served from loopback by the tests
//! themselves: the main site on 127.0.0.1 and a "foreign" site on 127.0.0.2 (another
//! origin, and another site as far as Chromium's site isolation is concerned, so its
//! iframes run out of process).
//!
//! Pages live in `fixtures/site/`; `{{ORIGIN}}` and `{{FOREIGN}}` in them are replaced by
//! the two servers' origins. A few routes are generated: `/echo` (shows and logs the
//! request), `/slow?ms=N`, `/held?ms=N&n=K` (a slow article page; `Site::held` counts how many
//! are served at once), `/never` (never answers), `/links5000`, `/spa/*`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

/// A request a fixture server received.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
}

#[derive(Clone)]
struct Ctx {
    origin: String,
    foreign: String,
    log: Arc<Mutex<Vec<Logged>>>,
    held: Arc<Held>,
    shop: Arc<std::sync::atomic::AtomicUsize>,
}

/// How many `/held` pages are being served right now, and the most at once.
#[derive(Default)]
pub struct Held {
    now: std::sync::atomic::AtomicUsize,
    pub peak: std::sync::atomic::AtomicUsize,
}

/// The two running fixture servers.
pub struct Site {
    pub origin: String,
    pub foreign: String,
    pub log: Arc<Mutex<Vec<Logged>>>,
    pub foreign_log: Arc<Mutex<Vec<Logged>>>,
    /// Concurrency of `/held` on the main site.
    pub held: Arc<Held>,
    /// Which `/shop` page the main site serves: 0 as first built, 1 with the buy button
    /// moved (other buttons before it), 2 with it gone, 3 with it renamed "Buy now".
    pub shop: Arc<std::sync::atomic::AtomicUsize>,
}

impl Site {
    /// Start both servers on free ports (127.0.0.1 and 127.0.0.2).
    pub async fn start() -> Site {
        Site::start_with(None).await
    }

    /// Both servers over https, with certificates from `ca`.
    pub async fn start_tls(ca: &TestCa) -> Site {
        Site::start_with(Some(ca)).await
    }

    async fn start_with(ca: Option<&TestCa>) -> Site {
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let b = tokio::net::TcpListener::bind("127.0.0.2:0").await.expect("bind 127.0.0.2 (loopback range)");
        let scheme = if ca.is_some() { "https" } else { "http" };
        let origin = format!("{scheme}://{}", a.local_addr().expect("addr"));
        let foreign = format!("{scheme}://{}", b.local_addr().expect("addr"));
        let log = Arc::new(Mutex::new(vec![]));
        let foreign_log = Arc::new(Mutex::new(vec![]));
        let held = Arc::new(Held::default());
        let shop = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ctx_a = Ctx { origin: origin.clone(), foreign: foreign.clone(), log: log.clone(), held: held.clone(), shop: shop.clone() };
        let ctx_b = Ctx {
            origin: origin.clone(),
            foreign: foreign.clone(),
            log: foreign_log.clone(),
            held: Arc::new(Held::default()),
            shop: Arc::default(),
        };
        match ca {
            None => {
                serve(a, app(ctx_a));
                serve(b, app(ctx_b));
            }
            Some(ca) => {
                serve_tls(a, ca.acceptor(&["127.0.0.1"]), app(ctx_a));
                serve_tls(b, ca.acceptor(&["127.0.0.2"]), app(ctx_b));
            }
        }
        Site { origin, foreign, log, foreign_log, held, shop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// The fixture site's routes for one server.
fn app(ctx: Ctx) -> Router {
    Router::new().fallback(any(handle)).with_state(ctx)
}

fn serve(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
}

/// Serve `app` over TLS (HTTP/1.1 and HTTP/2, as the client's ALPN asks).
pub fn serve_tls(listener: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor, app: Router) {
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
}

/// A certificate authority for tests, written to a PEM file errand is given with
/// `--trust-ca` (or `Options::trust_ca`). A second one that nobody is told about makes
/// an untrusted server.
pub struct TestCa {
    /// The CA's certificate, PEM.
    pub pem: PathBuf,
    _dir: tempfile::TempDir,
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(rcgen::DnType::CommonName, "errand test CA");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let cert = p.self_signed(&key).expect("CA");
        let dir = tempfile::tempdir().expect("temp dir");
        let pem = dir.path().join("test-ca.pem");
        std::fs::write(&pem, cert.pem()).expect("write CA");
        TestCa { pem, _dir: dir, cert, key }
    }

    /// A TLS acceptor whose certificate names `names` (host names or IP addresses).
    pub fn acceptor(&self, names: &[&str]) -> tokio_rustls::TlsAcceptor {
        let key = rcgen::KeyPair::generate().expect("key");
        let p = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        let leaf = p.signed_by(&key, &self.cert, &self.key).expect("leaf");
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], der)
            .expect("cert");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

pub fn site_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/site")
}

async fn handle(
    State(ctx): State<Ctx>,
    method: Method,
    uri: Uri,
    Query(q): Query<std::collections::HashMap<String, String>>,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Ok(mut l) = ctx.log.lock() {
        l.push(Logged {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().unwrap_or_default().to_string(),
            body: String::from_utf8_lossy(&body).to_string(),
        });
    }
    match path.as_str() {
        "/echo" => {
            let html = format!(
                "<!doctype html><html><head><meta charset=utf-8><title>Echo</title></head><body><h1>Echo</h1><p id=method>{}</p><p id=query>{}</p><p id=body>{}</p><a href=\"/form.html\">Back to form</a></body></html>",
                method,
                html_escape(uri.query().unwrap_or_default()),
                html_escape(&String::from_utf8_lossy(&body))
            );
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        "/slow" => {
            let ms = q.get("ms").and_then(|m| m.parse().ok()).unwrap_or(1000u64).min(10_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ([(header::CONTENT_TYPE, "text/plain")], format!("slept {ms} ms")).into_response()
        }
        "/held" => {
            // An article page that takes `ms` to serve, counting how many are served at once.
            use std::sync::atomic::Ordering::SeqCst;
            let ms = q.get("ms").and_then(|m| m.parse().ok()).unwrap_or(300u64).min(5_000);
            let now = ctx.held.now.fetch_add(1, SeqCst) + 1;
            ctx.held.peak.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ctx.held.now.fetch_sub(1, SeqCst);
            let n = q.get("n").cloned().unwrap_or_default();
            let html = format!(
                "<!doctype html><html><head><meta charset=utf-8><title>Held page {n}</title></head><body><article><h1>Held page {n}</h1><p>This page number {n} took a while to arrive, as pages on slow servers do, and carries a paragraph long enough to count as an article.</p></article></body></html>",
                n = html_escape(&n)
            );
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        "/shop" => {
            let buy = "<button id=\"buy\" onclick=\"location.href='/shop-done?item=kettle'\">Buy the kettle</button>";
            let body = match ctx.shop.load(std::sync::atomic::Ordering::SeqCst) {
                0 => format!("<p>Our best seller: a kettle.</p>{buy} <a href=\"/library.html\">Library</a>"),
                1 => format!("<nav><button>Compare</button> <button>Wishlist</button> <a href=\"/index.html\">Home</a></nav><p>Our best seller: a kettle, now in red.</p><div class=\"actions\">{buy}</div> <a href=\"/library.html\">Library</a>"),
                3 => format!("<p>Our best seller: a kettle.</p>{} <a href=\"/library.html\">Library</a>", buy.replace(">Buy the kettle<", ">Buy now<")),
                _ => "<p>The kettle is sold out.</p><a href=\"/library.html\">Library</a>".to_string(),
            };
            let html =
                format!("<!doctype html><html><head><meta charset=utf-8><title>Shop</title></head><body><h1>Shop</h1>{body}</body></html>");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        "/shop-done" => {
            let item = html_escape(q.get("item").map(String::as_str).unwrap_or("nothing"));
            let html = format!("<!doctype html><html><head><meta charset=utf-8><title>Order placed</title></head><body><article><h1>Order placed</h1><p>Thank you: one {item} is on its way to you and should arrive within three working days of today.</p></article></body></html>");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        "/never" => {
            futures_pending().await;
            StatusCode::NO_CONTENT.into_response()
        }
        "/search" => {
            // The library's search: articles whose title holds a word of the query.
            let q = q.get("q").cloned().unwrap_or_default().to_lowercase();
            let mut html = format!(
                "<!doctype html><html><head><meta charset=utf-8><title>Search: {}</title></head><body><h1>Results for {}</h1><ul>",
                html_escape(&q),
                html_escape(&q)
            );
            for (path, title) in [("/articles/otters.html", "Eurasian otters"), ("/articles/beavers.html", "Beavers")] {
                let t = title.to_lowercase();
                if q.split_whitespace().filter(|w| w.len() >= 3).any(|w| t.contains(w.trim_end_matches('s'))) {
                    html.push_str(&format!("<li><a href=\"{path}\">{title}</a></li>"));
                }
            }
            html.push_str("</ul></body></html>");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        "/links5000" => {
            let mut html = String::from(
                "<!doctype html><html><head><meta charset=utf-8><title>5000 links</title></head><body><h1>Many links</h1><ul>",
            );
            for i in 0..5000 {
                html.push_str(&format!("<li><a href=\"/index.html?i={i}\">Link number {i}</a></li>"));
            }
            html.push_str("</ul></body></html>");
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        "/redirect" => {
            let to = q.get("to").cloned().unwrap_or_default();
            (StatusCode::FOUND, [(header::LOCATION, to)], "redirecting").into_response()
        }
        "/exfil.html" => {
            // A page whose own headers ask Chromium to send CSP and Reporting-API reports
            // to the sink.
            let sink = q.get("sink").cloned().unwrap_or_default();
            let html = std::fs::read_to_string(site_dir().join("exfil.html")).unwrap_or_default();
            let csp = format!("img-src 'none'; report-uri {sink}/v/csp-report; report-to sink");
            let endpoints = format!("sink=\"{sink}/v/reporting-api\"");
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                    (header::HeaderName::from_static("content-security-policy-report-only"), csp),
                    (header::HeaderName::from_static("reporting-endpoints"), endpoints),
                ],
                html,
            )
                .into_response()
        }
        "/download.txt" => (
            [(header::CONTENT_TYPE, "text/plain"), (header::CONTENT_DISPOSITION, "attachment; filename=\"report.txt\"")],
            "hello download\n",
        )
            .into_response(),
        p => {
            let file = if p.starts_with("/spa/") {
                "spa.html"
            } else if p == "/" {
                "index.html"
            } else {
                p.trim_start_matches('/')
            };
            if file.contains("..") {
                return StatusCode::BAD_REQUEST.into_response();
            }
            match tokio::fs::read(site_dir().join(file)).await {
                Ok(bytes) => {
                    let ct = if file.ends_with(".html") {
                        "text/html; charset=utf-8"
                    } else if file.ends_with(".js") {
                        "text/javascript"
                    } else if file.ends_with(".css") {
                        "text/css"
                    } else {
                        "text/plain; charset=utf-8"
                    };
                    if ct.starts_with("text/html") {
                        let s = String::from_utf8_lossy(&bytes).replace("{{ORIGIN}}", &ctx.origin).replace("{{FOREIGN}}", &ctx.foreign);
                        ([(header::CONTENT_TYPE, ct)], s).into_response()
                    } else {
                        ([(header::CONTENT_TYPE, ct)], bytes).into_response()
                    }
                }
                Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
            }
        }
    }
}

async fn futures_pending() {
    std::future::pending::<()>().await
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

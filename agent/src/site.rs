//! Local sites errand serves itself on loopback: the bundled demo site (compiled into
//! the binary, so `errand demo` works from anywhere) and benchmark page folders.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The demo site: a small guide to heat pumps, several linked articles with a table, a
/// forum page carrying a prompt injection, and links to a foreign host.
pub const DEMO: &[(&str, &str)] = &[
    ("/", include_str!("../demo/index.html")),
    ("/articles/how-heat-pumps-work.html", include_str!("../demo/articles/how-heat-pumps-work.html")),
    ("/articles/costs.html", include_str!("../demo/articles/costs.html")),
    ("/articles/cold-climates.html", include_str!("../demo/articles/cold-climates.html")),
    ("/articles/forum.html", include_str!("../demo/articles/forum.html")),
];

/// Pages served by path; anything else is a fast 404.
#[derive(Clone, Default)]
pub struct Pages(pub Arc<HashMap<String, Vec<u8>>>);

impl Pages {
    pub fn demo() -> Pages {
        Pages(Arc::new(DEMO.iter().map(|(p, h)| (p.to_string(), h.as_bytes().to_vec())).collect()))
    }

    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.keys().cloned().collect();
        v.sort();
        v
    }
}

/// The demo's input folder: a person's notes and a CSV of installers' quotes, naming the
/// demo site's pages at `origin`.
const MATERIALS: &[(&str, &str)] =
    &[("notes.md", include_str!("../demo/materials/notes.md")), ("installers.csv", include_str!("../demo/materials/installers.csv"))];

/// Write the demo's input folder (`materials`) under a new folder in `parent`; returns
/// the input folder.
pub fn demo_materials(parent: &std::path::Path, origin: &str) -> Result<std::path::PathBuf> {
    let dir = parent.join("materials");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the demo's input folder {}", dir.display()))?;
    for (name, text) in MATERIALS {
        let path = dir.join(name);
        std::fs::write(&path, text.replace("{origin}", origin)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir)
}

/// Serve `pages` on `addr` (e.g. `127.0.0.1:0`); returns the origin.
pub async fn serve(pages: Pages, addr: &str) -> Result<String> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let origin = format!("http://{}", listener.local_addr()?);
    let app = Router::new().fallback(move |uri: Uri| {
        let pages = pages.clone();
        async move { page(&pages, &uri) }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("local site server stopped: {e}");
        }
    });
    Ok(origin)
}

fn page(pages: &Pages, uri: &Uri) -> Response {
    match pages.0.get(uri.path()) {
        // Many real pages have no <meta charset>: say UTF-8, or Chromium guesses windows-1252.
        Some(b) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], b.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

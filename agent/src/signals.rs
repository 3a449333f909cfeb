//! Ctrl-C and SIGTERM: listened for from the moment errand starts, so every command can
//! stop cleanly (browser closed, profile removed, recording finished) on either.

/// Ctrl-C (SIGINT) or SIGTERM, once either came: set by one task that listens from the
/// moment errand starts, so a signal that arrives while Chromium is still starting is not
/// fatal but waits for the command to stop cleanly.
static STOP: std::sync::OnceLock<tokio::sync::watch::Receiver<Option<&'static str>>> = std::sync::OnceLock::new();

pub fn listen_for_signals() {
    let (tx, rx) = tokio::sync::watch::channel(None);
    let _ = STOP.set(rx);
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::spawn(async move {
        #[cfg(unix)]
        let why = match term {
            Some(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            },
            None => {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        };
        #[cfg(not(unix))]
        let why = {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        };
        let _ = tx.send(Some(why));
    });
}

/// Resolves when the user asks errand to stop: Ctrl-C or SIGTERM. Commands select on it
/// so the browser is closed, its temporary profile removed and the recording finished on
/// either, instead of the process dying where it stands.
pub async fn interrupted() -> &'static str {
    let Some(rx) = STOP.get() else { return std::future::pending().await };
    let mut rx = rx.clone();
    let why = rx.wait_for(|v| v.is_some()).await.ok().and_then(|v| *v);
    match why {
        Some(w) => w,
        None => std::future::pending().await,
    }
}

/// Whether Ctrl-C or SIGTERM has come: for a decision after the fact (should a session
/// that ended start again?) rather than a wait.
pub fn stopping() -> bool {
    STOP.get().is_some_and(|rx| rx.borrow().is_some())
}

//! The DevTools events the tracker reads, as errand's own typed structs.
//!
//! Why not chromiumoxide's generated types: they are strict (a field Chromium drops or
//! renames fails the whole event), and errand needs a dozen fields of a few events. These
//! take only what the tracker uses, every field defaulted, so an event from a newer or
//! older Chromium still parses; one that does not is [`Event::Other`] and is ignored.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// What the tracker knows of a target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct TargetInfo {
    pub target_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub title: String,
    pub browser_context_id: Option<String>,
}

/// A frame as `Page.frameNavigated` and `Page.getFrameTree` give it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct FrameInfo {
    pub id: String,
    pub url: String,
    pub parent_id: Option<String>,
}

/// The request of `Network.requestWillBeSent`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct RequestInfo {
    pub url: Option<String>,
    pub method: Option<String>,
}

/// A response's status, and the headers errand's proxy marks its own answers with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ResponseInfo {
    pub url: String,
    pub status: u16,
    pub status_text: String,
    pub headers: serde_json::Map<String, Value>,
}

impl ResponseInfo {
    /// A header's value, its name matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Sent {
    pub request_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub request: RequestInfo,
    pub frame_id: Option<String>,
    /// Present when this is a redirect's next hop.
    pub redirect_response: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Received {
    #[serde(rename = "type")]
    pub kind: String,
    pub frame_id: Option<String>,
    pub response: ResponseInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Ids {
    pub session_id: Option<String>,
    pub target_id: Option<String>,
    pub frame_id: Option<String>,
    pub parent_frame_id: Option<String>,
    pub request_id: Option<String>,
    pub url: Option<String>,
    pub reason: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Attached {
    pub session_id: String,
    pub target_info: TargetInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct InfoChanged {
    pub target_info: TargetInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Navigated {
    pub frame: FrameInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Binding {
    pub name: String,
    pub payload: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Dialog {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Download {
    pub guid: String,
    pub url: String,
    pub suggested_filename: String,
    pub state: String,
}

/// One DevTools event the tracker acts on.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Attached(Attached),
    Detached(Ids),
    /// `Target.targetInfoChanged` and `Target.targetCreated`.
    InfoChanged(InfoChanged),
    Destroyed(Ids),
    /// `Target.targetCrashed` and `Inspector.targetCrashed`.
    Crashed(Ids),
    FrameAttached(Ids),
    FrameNavigated(Navigated),
    WithinDocument(Ids),
    /// `Page.frameRequestedNavigation` and `Page.frameStartedNavigating`.
    Navigating(Ids),
    DomContentLoaded,
    StoppedLoading(Ids),
    FrameDetached(Ids),
    RequestSent(Sent),
    ResponseReceived(Received),
    LoadingFinished(Ids),
    LoadingFailed(Ids),
    BindingCalled(Binding),
    DialogOpening(Dialog),
    /// `Browser.downloadWillBegin` and `Page.downloadWillBegin`.
    DownloadBegins(Download),
    DownloadProgress(Download),
    /// errand's own: the DevTools connection closed.
    ConnectionClosed,
    /// Anything else, or an event whose parameters did not parse.
    Other,
}

impl Event {
    /// Read an event by its method name and parameters.
    pub fn parse(method: &str, p: &Value) -> Event {
        fn read<T: DeserializeOwned>(p: &Value, make: fn(T) -> Event) -> Event {
            match T::deserialize(p) {
                Ok(v) => make(v),
                Err(e) => {
                    tracing::debug!(target: "errand::tracker", "an event did not parse: {e}");
                    Event::Other
                }
            }
        }
        match method {
            "Target.attachedToTarget" => read(p, Event::Attached),
            "Target.detachedFromTarget" => read(p, Event::Detached),
            "Target.targetInfoChanged" | "Target.targetCreated" => read(p, Event::InfoChanged),
            "Target.targetDestroyed" => read(p, Event::Destroyed),
            "Target.targetCrashed" | "Inspector.targetCrashed" => read(p, Event::Crashed),
            "Page.frameAttached" => read(p, Event::FrameAttached),
            "Page.frameNavigated" => read(p, Event::FrameNavigated),
            "Page.navigatedWithinDocument" => read(p, Event::WithinDocument),
            "Page.frameRequestedNavigation" | "Page.frameStartedNavigating" => read(p, Event::Navigating),
            "Page.domContentEventFired" => Event::DomContentLoaded,
            "Page.frameStoppedLoading" => read(p, Event::StoppedLoading),
            "Page.frameDetached" => read(p, Event::FrameDetached),
            "Network.requestWillBeSent" => read(p, Event::RequestSent),
            "Network.responseReceived" => read(p, Event::ResponseReceived),
            "Network.loadingFinished" => read(p, Event::LoadingFinished),
            "Network.loadingFailed" => read(p, Event::LoadingFailed),
            "Runtime.bindingCalled" => read(p, Event::BindingCalled),
            "Page.javascriptDialogOpening" => read(p, Event::DialogOpening),
            "Browser.downloadWillBegin" | "Page.downloadWillBegin" => read(p, Event::DownloadBegins),
            "Browser.downloadProgress" => read(p, Event::DownloadProgress),
            "errand.closed" => Event::ConnectionClosed,
            _ => Event::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_parse_with_fields_missing_or_extra_and_odd_ones_are_ignored() {
        // Missing fields take their defaults; unknown ones are skipped.
        let e = Event::parse("Target.attachedToTarget", &json!({"sessionId": "S", "targetInfo": {"type": "page", "new": 1}}));
        assert!(
            matches!(e, Event::Attached(a) if a.session_id == "S" && a.target_info.kind == "page" && a.target_info.target_id.is_empty())
        );
        let e = Event::parse("Network.responseReceived", &json!({"response": {"status": 403, "headers": {"X-Errand-Blocked": "1"}}}));
        assert!(matches!(&e, Event::ResponseReceived(r) if r.response.status == 403 && r.response.header("x-errand-blocked") == Some("1")));
        // A field of the wrong type makes the event one errand ignores, not a panic.
        assert!(matches!(Event::parse("Page.frameNavigated", &json!({"frame": {"id": 7}})), Event::Other));
        assert!(matches!(Event::parse("Page.lifecycleEvent", &json!({})), Event::Other));
    }
}

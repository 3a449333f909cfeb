//! The DevTools client against a fake browser on loopback that misbehaves on purpose:
//! unparseable messages are skipped, unanswered calls time out, a closed socket fails
//! every pending and later call at once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::time::Duration;

use async_tungstenite::tungstenite::Message;
use browser::{Cdp, CdpError};
use futures::StreamExt;
use serde_json::{json, Value};

async fn fake_browser() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/devtools/browser/fake", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut ws = async_tungstenite::tokio::accept_async(tcp).await.unwrap();
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            let req: Value = serde_json::from_str(&t).unwrap();
            let id = req["id"].clone();
            match req["method"].as_str().unwrap() {
                "Test.echo" => {
                    // Garbage, an event with a session, then the answer.
                    ws.send(Message::text("this is not json {")).await.unwrap();
                    ws.send(Message::text(r#"{"unexpected": ["shape"]}"#)).await.unwrap();
                    ws.send(Message::text(json!({"method": "Test.happened", "sessionId": "S1", "params": {"n": 1}}).to_string()))
                        .await
                        .unwrap();
                    ws.send(Message::text(json!({"id": id, "result": {"echo": req["params"]}}).to_string())).await.unwrap();
                }
                "Test.fail" => {
                    ws.send(Message::text(
                        json!({"id": id, "error": {"code": -32000, "message": "Cannot find context with specified id"}}).to_string(),
                    ))
                    .await
                    .unwrap();
                }
                "Test.hang" => {}
                "Test.close" => {
                    let _ = ws.close(None).await;
                    return;
                }
                _ => {}
            }
        }
    });
    url
}

#[tokio::test]
async fn skips_garbage_times_out_and_fails_fast_when_closed() {
    let url = fake_browser().await;
    let (cdp, mut events) = Cdp::connect(&url, Duration::from_secs(5)).await.unwrap();
    let v = cdp.raw(Some("S1"), "Test.echo", json!({"x": 1})).await.unwrap();
    assert_eq!(v["echo"]["x"], 1, "the answer arrives after the garbage");
    let ev = events.recv().await.unwrap();
    assert_eq!(ev.method, "Test.happened");
    assert_eq!(ev.session.as_deref(), Some("S1"), "events keep their session id");

    let e = cdp.raw(None, "Test.fail", json!({})).await.unwrap_err();
    assert!(e.is_gone(), "{e}");
    assert!(e.to_string().contains("Test.fail failed: Cannot find context"), "{e}");

    let e = cdp.raw_with_timeout(None, "Test.hang", json!({}), Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(e, CdpError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("got no answer"), "{e}");

    // A call still waiting when the socket closes fails with Closed, not a timeout.
    let waiting = {
        let cdp = cdp.clone();
        tokio::spawn(async move { cdp.raw_with_timeout(None, "Test.hang", json!({}), Duration::from_secs(60)).await })
    };
    let _ = cdp.raw_with_timeout(None, "Test.close", json!({}), Duration::from_secs(5)).await;
    let r = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("no hang").unwrap();
    assert!(matches!(r, Err(CdpError::Closed)), "{r:?}");
    assert!(cdp.is_closed());
    let e = cdp.raw(None, "Test.echo", json!({})).await.unwrap_err();
    assert!(matches!(e, CdpError::Closed), "{e}");
    // The event stream says so too.
    let mut saw_closed = false;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        if ev.method == "errand.closed" {
            saw_closed = true;
            break;
        }
    }
    assert!(saw_closed);
}

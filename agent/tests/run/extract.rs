//! `errand extract`: pages in, Markdown or JSON out, in order, a failure not stopping the rest.

use fixtures::Site;
use serde_json::Value;

#[tokio::test]
async fn errand_extract_prints_markdown_or_json_and_goes_on_past_a_failure() {
    let site = Site::start().await;
    let otters = site.url("/articles/otters.html");
    let missing = "http://127.0.0.1:1/nothing-listens-here".to_string();
    let beavers = site.url("/articles/beavers.html");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["extract", &otters, &missing, &beavers, "--json"])
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["title"], "Eurasian otters");
    assert!(lines[0]["markdown"].as_str().unwrap().contains("7 and 12 kilograms"));
    assert!(lines[0]["error"].is_null());
    assert!(lines[1]["error"].as_str().is_some_and(|e| !e.is_empty()), "{:?}", lines[1]);
    assert!(lines[2]["text"].as_str().unwrap().contains("Beavers build dams"));
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand")).args(["extract", &otters]).output().await.unwrap();
    assert!(o.status.success());
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("# Eurasian otters\n\nSource: <") && md.contains("| Weight"), "{md}");
}

#[tokio::test]
async fn errand_extract_loads_a_few_pages_at_a_time_and_prints_them_in_order() {
    use std::sync::atomic::Ordering::SeqCst;
    let site = Site::start().await;
    let urls: Vec<String> = (1..=6).map(|n| site.url(&format!("/held?ms=400&n={n}"))).collect();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("extract")
        .args(&urls)
        .args(["--json", "--parallel", "3"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let titles: Vec<&str> = lines.iter().map(|l| l["title"].as_str().unwrap()).collect();
    assert_eq!(titles, (1..=6).map(|n| format!("Held page {n}")).collect::<Vec<_>>());
    let peak = site.held.peak.load(SeqCst);
    assert!((2..=3).contains(&peak), "the server saw {peak} pages requested at once");
    // One at a time when asked.
    let site = Site::start().await;
    let urls: Vec<String> = (1..=3).map(|n| site.url(&format!("/held?ms=200&n={n}"))).collect();
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .arg("extract")
        .args(&urls)
        .args(["--parallel", "1"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success());
    assert_eq!(site.held.peak.load(SeqCst), 1);
}

#[tokio::test]
async fn errand_extract_reads_a_page_without_scripts_when_its_scripts_lose_the_article() {
    let site = Site::start().await;
    // One page's script swaps the article for an apology; another's sends the browser to
    // a host off the allowlist (blocked); a third's to https on a server that speaks only
    // http (the load fails); a fourth sends its article hidden, for a script on a blocked
    // host to show. All four articles are in what the server sent.
    let broken = site.url("/articles/script-broken.html");
    let away = site.url("/articles/redirects-away.html");
    let otters = site.url("/articles/otters.html");
    let https = site.url("/articles/to-https.html");
    let hidden = site.url("/articles/hidden-until-hydrated.html");
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_errand"))
        .args(["extract", &broken, &away, &otters, &https, &hidden, "--json"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        lines[0]["text"].as_str().unwrap().contains("heronries") && !lines[0]["text"].as_str().unwrap().contains("not available"),
        "{:?}",
        lines[0]
    );
    assert_eq!(lines[0]["view"], "without scripts");
    assert!(lines[1]["text"].as_str().unwrap().contains("blunt noses"), "{:?}", lines[1]);
    assert_eq!(lines[1]["view"], "without scripts");
    assert_eq!(lines[1]["url"], away.as_str());
    // A page that renders fine is read once, as rendered.
    assert_eq!(lines[2]["view"], "rendered");
    assert_eq!(lines[2]["page_type"], "article");
    assert!(lines[3]["text"].as_str().unwrap_or_default().contains("Rope bridges"), "{:?}", lines[3]);
    assert_eq!(lines[3]["view"], "without scripts");
    assert!(lines[3]["error"].is_null(), "{:?}", lines[3]);
    let text = lines[4]["text"].as_str().unwrap_or_default();
    assert!(text.contains("caddis larvae") && text.contains("bob up and down") && !text.contains("Loading"), "{:?}", lines[4]);
    assert_eq!(lines[4]["view"], "without scripts");
    assert!(stderr.contains("read again without scripts"), "{stderr}");
    // Nothing reached the foreign host.
    assert!(site.foreign_log.lock().unwrap().is_empty(), "the foreign host was reached");
}

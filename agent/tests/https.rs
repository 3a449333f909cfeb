//! errand over https: its proxy opens TLS with a certificate authority made for the run,
//! verifies every server's certificate itself, and holds state-changing requests there
//! as it does for http. The fixture servers use a test CA given with `--trust-ca`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::process::Stdio;

mod common;

use fixtures::{Site, TestCa};

fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_errand"));
    for k in ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ERRAND_LOG"] {
        c.env_remove(k);
    }
    c.stdin(Stdio::null());
    c
}

fn out(o: &std::process::Output) -> (Option<i32>, String, String) {
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

// Multi-threaded: the fixture site must answer while this test waits on errand.
#[tokio::test(flavor = "multi_thread")]
async fn https_pages_load_and_their_posts_are_held_in_the_proxy() {
    let ca = TestCa::new();
    let site = Site::start_tls(&ca).await;
    let pem = ca.pem.to_str().unwrap();
    let (code, stdout, err) = out(&bin().args(["extract", &site.url("/articles/otters.html"), "--trust-ca", pem]).output().unwrap());
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("otter"), "{stdout}");
    // A page that posts as it loads: held in the proxy (the log says so) and declined;
    // DevTools request interception is never switched on in a browser errand launched.
    let page = site.url("/posts-on-load.html");
    let (code, _, err) = out(&bin().args(["open", &page, "--trust-ca", pem]).env("ERRAND_LOG", "errand::consent=debug").output().unwrap());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("held POST"), "the proxy held nothing: {err}");
    assert!(!err.contains("Fetch.enable"), "{err}");
    let sent: Vec<_> =
        site.requests().into_iter().filter(|r| r.method != "GET").map(|r| format!("{} {}?{}", r.method, r.path, r.query)).collect();
    assert!(sent.is_empty(), "state-changing requests reached the server: {sent:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_errand_cannot_verify_are_refused_with_the_reason() {
    let ca = TestCa::new();
    let site = Site::start_tls(&ca).await;
    let page = site.url("/articles/otters.html");
    // Not told to trust the test CA: the platform's roots do not know it.
    let (code, stdout, err) = out(&bin().args(["open", &page]).output().unwrap());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ERR_CERT_AUTHORITY_INVALID") && err.contains("--trust-ca"), "{err}");
    assert!(!stdout.contains("otter"), "{stdout}");
    // Trusted CA, but the certificate names another host.
    let listener = tokio::net::TcpListener::bind("127.0.0.3:0").await.unwrap();
    let wrong = format!("https://{}/", listener.local_addr().unwrap());
    fixtures::serve_tls(
        listener,
        ca.acceptor(&["127.0.0.9", "elsewhere.test"]),
        axum::Router::new().fallback(|| async { "should not be seen" }),
    );
    let (code, stdout, err) = out(&bin().args(["open", &wrong, "--trust-ca", ca.pem.to_str().unwrap()]).output().unwrap());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ERR_CERT_COMMON_NAME_INVALID"), "{err}");
    assert!(!stdout.contains("should not be seen"), "{stdout}");
}

#[test]
fn a_trust_file_that_holds_no_certificate_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, "not a certificate").unwrap();
    let (code, _, err) = out(&bin().args(["open", "http://127.0.0.1:9/", "--trust-ca", f.to_str().unwrap()]).output().unwrap());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("notes.txt") && err.contains("CERTIFICATE"), "{err}");
}

/// A minimal forward proxy standing in for a company's: it logs each request line (with
/// the credentials it was given), tunnels CONNECT and relays absolute-form requests.
async fn company_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let log = log2.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                let mut head = vec![];
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let end = line == "\r\n";
                    head.push(line);
                    if end {
                        break;
                    }
                }
                let first = head[0].trim().to_string();
                let auth = head
                    .iter()
                    .find(|h| h.to_ascii_lowercase().starts_with("proxy-authorization:"))
                    .map(|h| h.split_once(':').unwrap().1.trim().to_string())
                    .unwrap_or_default();
                log.lock().unwrap().push(format!("{first} auth={auth}"));
                let mut parts = first.split_whitespace();
                let (method, target) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
                let hostport = if method == "CONNECT" {
                    target.clone()
                } else {
                    target.trim_start_matches("http://").split('/').next().unwrap_or_default().to_string()
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&hostport).await else { return };
                if method == "CONNECT" {
                    let _ = r.get_mut().write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
                } else {
                    let relayed: String =
                        head.iter().filter(|h| !h.to_ascii_lowercase().starts_with("proxy-authorization:")).cloned().collect();
                    let _ = upstream.write_all(relayed.as_bytes()).await;
                }
                let buffered = r.buffer().to_vec();
                let _ = upstream.write_all(&buffered).await;
                let _ = tokio::io::copy_bidirectional(&mut r.into_inner(), &mut upstream).await;
            });
        }
    });
    (format!("http://{addr}"), log)
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_company_proxy_errand_connects_through_it_after_its_own_checks() {
    let (proxy, log) = company_proxy().await;
    let with_credentials = proxy.replace("http://", "http://ann:Pr0xyPw@");
    // Plain http: sent to the proxy in absolute form, with its credentials.
    let site = Site::start().await;
    let (code, stdout, err) = out(&bin()
        .args(["extract", &site.url("/articles/otters.html"), "--upstream-proxy", &with_credentials])
        .env_remove("NO_PROXY")
        .output()
        .unwrap());
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("otter"), "{stdout}");
    let basic = "Basic YW5uOlByMHh5UHc="; // ann:Pr0xyPw
    assert!(
        log.lock().unwrap().iter().any(|l| l.starts_with(&format!("GET {}", site.url("/articles/otters.html"))) && l.ends_with(basic)),
        "{:?}",
        log.lock().unwrap()
    );
    assert!(!err.contains("Pr0xyPw"), "the proxy's password was shown: {err}");
    // https: a CONNECT tunnel through the proxy, with its credentials; errand still opens
    // and checks the server's TLS itself.
    let ca = TestCa::new();
    let tls = Site::start_tls(&ca).await;
    let (code, stdout, err) = out(&bin()
        .args(["extract", &tls.url("/articles/otters.html"), "--upstream-proxy", &with_credentials, "--trust-ca", ca.pem.to_str().unwrap()])
        .env_remove("NO_PROXY")
        .output()
        .unwrap());
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("otter"), "{stdout}");
    let hostport = tls.origin.trim_start_matches("https://").to_string();
    assert!(
        log.lock().unwrap().iter().any(|l| l.starts_with(&format!("CONNECT {hostport}")) && l.ends_with(basic)),
        "{:?}",
        log.lock().unwrap()
    );
    // The allowlist is judged before the proxy is used: the page's frame on a host not
    // allowed never reaches the company's proxy.
    let (code, _, err) =
        out(&bin().args(["open", &site.url("/consent.html"), "--upstream-proxy", &proxy]).env_remove("NO_PROXY").output().unwrap());
    assert_eq!(code, Some(0), "{err}");
    let foreign = site.foreign.trim_start_matches("http://").to_string();
    assert!(!log.lock().unwrap().iter().any(|l| l.contains(&foreign)), "a blocked host reached the proxy: {:?}", log.lock().unwrap());
    // NO_PROXY is honoured.
    let before = log.lock().unwrap().len();
    let (code, _, err) = out(&bin()
        .args(["extract", &site.url("/articles/otters.html"), "--upstream-proxy", &proxy])
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(log.lock().unwrap().len(), before, "NO_PROXY was not honoured: {:?}", log.lock().unwrap());
    // A proxy address errand cannot use is bad input.
    let (code, _, err) =
        out(&bin().args(["open", &site.url("/"), "--upstream-proxy", "socks5://user:S3cret@127.0.0.1:1080"]).output().unwrap());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("http://HOST:PORT") && !err.contains("S3cret"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_secret_reaches_only_its_own_host_and_is_never_written_down() {
    let ca = TestCa::new();
    let site = Site::start_tls(&ca).await;
    let host = site.origin.trim_start_matches("https://").to_string();
    let foreign = site.foreign.trim_start_matches("https://").to_string();
    let d = common::dirs();
    std::fs::create_dir_all(&d.root).unwrap();
    let store = d.root.join("secrets.json");
    let value = "S3cr3t-Bank-Value_42";
    // Stored from a pipe (no terminal), listed without its value.
    let mut set = bin()
        .args(["secrets", "set", "bank", "--host", &host])
        .env("ERRAND_SECRETS", &store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    set.stdin.take().unwrap().write_all(format!("{value}\n").as_bytes()).unwrap();
    let o = set.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (code, list, _) = out(&bin().args(["secrets", "list"]).env("ERRAND_SECRETS", &store).output().unwrap());
    assert_eq!((code, list.trim()), (Some(0), format!("bank\t{host}").as_str()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&store).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // The model signs in with the placeholder; the page's own script copies the field to
    // another (allowed) host; then, as if injected, the model types the placeholder into a
    // form on that other host.
    let model = common::script_model(
        &d,
        "bank.json",
        serde_json::json!([
            {"tool": "type", "args": {"selector": "#pw", "text": "{{secret:bank}}", "submit": true}},
            {"tool": "navigate", "args": {"url": format!("{}/login.html", site.foreign)}},
            {"tool": "type", "args": {"selector": "#user", "text": "{{secret:bank}}", "submit": true}},
            {"tool": "done", "args": {"summary": "signed in"}}
        ]),
    );
    let allow = foreign.clone();
    let mut c = common::errand(
        &d,
        &[
            "sign in",
            "--start",
            &site.url("/login.html"),
            "--model",
            &model,
            "--confirm",
            "approve",
            "--allow",
            &allow,
            "--trust-ca",
            ca.pem.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    c.env("ERRAND_SECRETS", &store);
    let r = common::run(c).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The bank received the value once, in its login form.
    let bank: Vec<_> = site.requests().into_iter().filter(|q| q.body.contains(value)).collect();
    assert_eq!(bank.len(), 1, "{:?}", site.requests());
    assert_eq!((bank[0].method.as_str(), bank[0].query.as_str()), ("POST", "route=login"));
    assert!(bank[0].body.contains(&format!("pw={value}")), "{:?}", bank[0]);
    // The other host got the placeholder from the page's script and from the model, never
    // the value.
    let elsewhere = site.foreign_log.lock().unwrap().clone();
    let posts: Vec<_> = elsewhere.iter().filter(|q| q.method == "POST").collect();
    assert!(posts.iter().any(|q| q.path == "/steal" && q.body == "{{secret:bank}}"), "{elsewhere:?}");
    assert!(posts.iter().any(|q| q.path == "/echo" && q.body.contains("user=%7B%7Bsecret%3Abank%7D%7D")), "{elsewhere:?}");
    for q in &posts {
        assert!(!q.body.contains(value) && !q.query.contains(value), "the value reached another host: {q:?}");
    }
    // Recorded and narrated: the placeholder went elsewhere unfilled.
    let (dir, lines) = common::recording(&d.rec);
    assert!(
        lines.iter().any(|l| l["type"] == "blocked" && l["layer"] == "secrets" && l["url"].as_str().unwrap_or_default().contains(&foreign)),
        "no record of the placeholder sent elsewhere"
    );
    assert!(recordings_report(&d.rec, &dir));
    for (what, text) in [
        ("recording", common::all_text(&dir)),
        ("outputs", common::all_text(&d.out)),
        ("narration", r.stderr.clone()),
        ("--json", r.stdout.clone()),
    ] {
        assert!(!text.contains(value), "the value is in the {what}");
    }
}

fn recordings_report(rec: &std::path::Path, dir: &std::path::Path) -> bool {
    common::recordings_cmd(rec, &["report", dir.to_str().unwrap()]).status.success()
}

#[tokio::test]
async fn a_damaged_secrets_file_is_bad_input_and_nothing_is_started() {
    let d = common::dirs();
    std::fs::create_dir_all(&d.root).unwrap();
    let store = d.root.join("secrets.json");
    std::fs::write(&store, "{not json").unwrap();
    let mut c = common::errand(&d, &["x", "--start", "http://127.0.0.1:9/", "--model", "builtin"], &[]);
    c.env("ERRAND_SECRETS", &store);
    let r = common::run(c).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("secrets.json") && r.stderr.contains("store the secrets again"), "{}", r.stderr);
    assert!(!d.out.exists() && !d.rec.exists(), "an output folder or a recording was made");
    assert_eq!(std::fs::read_to_string(&store).unwrap(), "{not json", "the file was changed");
}

/// Without `$ERRAND_SECRETS`, values go to the system keyring; a machine without one (no
/// D-Bus session, as on servers and in CI) keeps them in the secrets file, says so, and
/// lists and removes them as usual.
#[cfg(target_os = "linux")]
#[test]
fn without_a_keyring_secrets_are_kept_in_the_file_and_it_says_so() {
    use std::io::Write;
    let d = common::dirs();
    let config = d.root.join("config");
    let no_keyring = |c: &mut std::process::Command| {
        c.env_remove("ERRAND_SECRETS")
            .env("XDG_CONFIG_HOME", &config)
            .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", d.root.join("no-bus").display()))
            .env_remove("DISPLAY");
    };
    let mut set = bin();
    set.args(["secrets", "set", "bank", "--host", "bank.example"]);
    no_keyring(&mut set);
    let mut set = set.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    set.stdin.take().unwrap().write_all(b"Kept-In-File-77\n").unwrap();
    let o = set.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let file = config.join("errand").join("secrets.json");
    assert!(err.contains("no system keyring") && err.contains(&file.display().to_string()), "{err}");
    assert!(std::fs::read_to_string(&file).unwrap().contains("Kept-In-File-77"));
    let mut list = bin();
    list.args(["secrets", "list"]);
    no_keyring(&mut list);
    let (code, listed, _) = out(&list.output().unwrap());
    assert_eq!((code, listed.trim()), (Some(0), "bank\tbank.example"));
    let mut remove = bin();
    remove.args(["secrets", "remove", "bank"]);
    no_keyring(&mut remove);
    let (code, _, err) = out(&remove.output().unwrap());
    assert_eq!(code, Some(0), "{err}");
    assert!(!std::fs::read_to_string(&file).unwrap().contains("Kept-In-File-77"));
}

/// A file that says a value is in the keyring, on a machine where the keyring cannot be
/// read: bad input, said plainly, before anything starts.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_secret_whose_keyring_cannot_be_read_stops_the_run_before_it_starts() {
    let d = common::dirs();
    std::fs::create_dir_all(&d.root).unwrap();
    let store = d.root.join("secrets.json");
    std::fs::write(&store, r#"{"secrets":[{"name":"bank","hosts":["bank.example"],"keyring":true}]}"#).unwrap();
    let mut c = common::errand(&d, &["x", "--start", "http://127.0.0.1:9/", "--model", "builtin"], &[]);
    c.env("ERRAND_SECRETS", &store)
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", d.root.join("no-bus").display()))
        .env_remove("DISPLAY");
    let r = common::run(c).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("secret bank is kept in the system keyring, which could not be read"), "{}", r.stderr);
    assert!(!d.out.exists() && !d.rec.exists(), "an output folder or a recording was made");
}

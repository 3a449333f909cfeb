//! `errand allow` as a user runs it: real processes, real files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::process::{Command, Output};

fn errand(file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_errand")).arg("allow").arg("--allowlist").arg(file).args(args).output().expect("errand runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn add_list_check_remove() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("allowlist.toml");
    let o = errand(&f, &["add", "docs.rs", "*.wikipedia.org", "127.0.0.1:8080"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("added *.wikipedia.org"));
    let o = errand(&f, &["list"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "docs.rs\n*.wikipedia.org\n127.0.0.1:8080\n");

    let o = errand(&f, &["check", "https://en.wikipedia.org/wiki/Rust", "http://127.0.0.1:8080/x"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = errand(&f, &["check", "https://docs.rs/", "http://2130706433:8081/", "http://allowed.com@evil.example/"]);
    assert_eq!(o.status.code(), Some(1), "exit 0 only if all are allowed");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("allow https://docs.rs/"), "{out}");
    assert!(
        out.contains("block http://2130706433:8081/: http://127.0.0.1:8081 is not allowed (the allowlist has 127.0.0.1:8080)"),
        "{out}"
    );
    assert!(out.contains("block http://allowed.com@evil.example/: evil.example is not on the allowlist"), "{out}");

    let o = errand(&f, &["remove", "docs.rs", "nothere.example"]);
    assert!(o.status.success());
    assert!(text(&o).contains("removed docs.rs") && text(&o).contains("not in the allowlist: nothere.example"));
    let o = errand(&f, &["check", "https://docs.rs/"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_malformed_file_is_reported_with_its_line_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("allowlist.toml");
    let original = "# mine\nallow = [\n  \"docs.rs\",\n  \"*.co.uk\",\n]\n";
    std::fs::write(&f, original).unwrap();
    for args in [&["add", "ok.example"][..], &["remove", "docs.rs"], &["list"], &["check", "https://docs.rs/"]] {
        let o = errand(&f, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("{}:4:3: \"*.co.uk\" would allow every site under the public suffix", f.display())),
            "{}",
            text(&o)
        );
        assert_eq!(std::fs::read(&f).unwrap(), original.as_bytes(), "byte-for-byte unchanged after {args:?}");
    }
    std::fs::write(&f, "allow = [\n  \"docs.rs\"\n  \"x.example\"\n]\n").unwrap();
    let o = errand(&f, &["add", "y.example"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains(&format!("{}:3:", f.display())), "{}", text(&o));
    // A bad pattern on the command line changes nothing either.
    std::fs::write(&f, "allow = []\n").unwrap();
    let o = errand(&f, &["add", "good.example", "*.com"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "allow = []\n");
}

#[test]
fn concurrent_adds_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("allowlist.toml");
    let children: Vec<_> = (0..8)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_errand"))
                .arg("allow")
                .arg("--allowlist")
                .arg(&f)
                .args(["add", &format!("site{i}.example")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let o = errand(&f, &["list"]);
    let listed = String::from_utf8_lossy(&o.stdout);
    for i in 0..8 {
        assert!(listed.contains(&format!("site{i}.example\n")), "site{i} is missing:\n{listed}");
    }
}

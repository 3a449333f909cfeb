//! The tool table against the README and the parsers against bad calls.

use super::*;

/// The README's list of the model's tools is the tool table, no more and no less.
#[test]
fn the_readme_lists_exactly_the_models_tools() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("the README");
    let start = readme.find("**Tools the model sees**").expect("the README lists the tools");
    let para = &readme[start..start + readme[start..].find(". Element").unwrap_or(readme.len() - start)];
    let listed: Vec<&str> = para.split('`').skip(1).step_by(2).map(|t| t.split('{').next().unwrap_or(t)).collect();
    let mut names: Vec<&str> = specs().iter().map(|s| s.name).collect();
    let mut listed_sorted = listed.clone();
    names.sort();
    listed_sorted.sort();
    assert_eq!(listed_sorted, names, "README: {para}");
}

#[test]
fn calls_parse_or_say_what_is_wrong() {
    let ok = |n: &str, a: Value| parse(n, &Ok(a));
    assert_eq!(ok("click", json!({"ref": "e3"})), Ok(Tool::Web(Action::Click { target: ElementTarget::Ref("e3".into()) })));
    assert_eq!(
        ok("type", json!({"selector": "#q", "text": "heat", "submit": true})),
        Ok(Tool::Web(Action::Type { target: ElementTarget::Selector("#q".into()), text: "heat".into(), append: false, submit: true }))
    );
    let table: &[(&str, Result<Value, String>, &str)] = &[
        ("click", Ok(json!({})), "click needs \"ref\""),
        ("navigate", Ok(json!({"url": 3})), "navigate needs \"url\""),
        ("navigate", Err("{\"url\": ".into()), "not valid JSON"),
        ("navigate", Ok(json!(["x"])), "must be a JSON object"),
        ("fly", Ok(json!({})), "there is no tool \"fly\""),
        ("scroll", Ok(json!({"direction": "sideways"})), "direction must be"),
        ("tab_switch", Ok(json!({"index": "two"})), "whole number"),
        ("wait", Ok(json!({})), "wait needs"),
    ];
    for (name, args, want) in table {
        let e = parse(name, args).unwrap_err();
        assert!(e.0.contains(want), "{name}: {e}");
    }
}

#[test]
fn every_tool_has_an_object_schema_and_parses_minimal_args() {
    for t in specs() {
        assert_eq!(t.schema["type"], "object", "{}", t.name);
        assert!(t.description.len() > 20, "{}", t.name);
    }
}

#[test]
fn names_are_unique_and_kinds_say_how_the_loop_treats_a_tool() {
    let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), TOOLS.len());
    let table = [
        ("click", Some(Kind::Web)),
        ("extract", Some(Kind::Read)),
        ("screenshot", Some(Kind::Read)),
        ("write_file", Some(Kind::File)),
        ("done", Some(Kind::Finish)),
        ("fly", None),
    ];
    for (name, want) in table {
        assert_eq!(kind(name), want, "{name}");
    }
    assert!(Kind::Read.in_browser() && !Kind::File.in_browser());
}

#[test]
fn calls_are_described_in_a_few_words_and_typed_text_is_withheld() {
    let table = [
        ("type", json!({"ref": "e4", "text": "Hunter2"}), "type into e4"),
        ("navigate", json!({"url": "https://a.example/"}), "navigate https://a.example/"),
        ("click", json!({"text": "Buy"}), "click text \"Buy\""),
        ("click", json!({"selector": "#b"}), "click selector \"#b\""),
        ("press", json!({"key": "Enter"}), "press Enter"),
        ("write_file", json!({"path": "r.md"}), "write_file r.md"),
        ("back", json!({}), "back"),
        ("fly", json!({"ref": "e1"}), "fly e1"),
    ];
    for (name, args, want) in table {
        assert_eq!(describe(name, Some(&args)), want);
    }
    assert_eq!(redact("type", Some(&json!({"ref": "e4", "text": "Hunter2"}))), json!({"ref": "e4", "text": "[recorded with the step]"}));
    assert_eq!(redact("click", Some(&json!({"text": "Buy"}))), json!({"text": "Buy"}));
}

//! `errand secrets`: values the model may use by name but never see.
//!
//! A secret is stored with the host patterns it may be sent to. In a run the model is told
//! only the names and types `{{secret:NAME}}`; errand's proxy writes the value into a
//! request only when it goes to one of those hosts (over https unless the pattern says
//! `http://`). See `browser::secrets` for the filling.
//!
//! Values are kept in the operating system's keyring (Secret Service on Linux, Keychain,
//! Credential Manager) when there is one; the names and hosts, and the values when there
//! is no keyring (headless machines, CI), in a JSON file readable by its owner only
//! (`~/.config/errand/secrets.json`, or `$XDG_CONFIG_HOME/errand/…`), replaced atomically
//! on each change. `$ERRAND_SECRETS` names another file and keeps everything in it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use allowlist::{Decision, Policy};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde::{Deserialize, Serialize};

#[derive(Subcommand)]
pub enum SecretsCmd {
    /// Store a secret (its value is read from the terminal without echo, or from stdin)
    Set {
        /// The name the model will use: letters, digits, _ and -
        name: String,
        /// Where the value may be sent: a host pattern as in the allowlist (repeatable);
        /// https only unless the pattern starts with http://
        #[arg(long = "host", required = true, value_name = "PATTERN")]
        hosts: Vec<String>,
    },
    /// List the stored secrets: names and hosts, never values
    List,
    /// Remove a stored secret
    Remove { name: String },
}

#[derive(Serialize, Deserialize, Default)]
struct Store {
    secrets: Vec<Stored>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Stored {
    name: String,
    hosts: Vec<String>,
    /// The value, when it is kept in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// The value is in the system keyring instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    keyring: bool,
}

/// The keyring service errand's values are filed under; the secret's name is the user.
const KEYRING_SERVICE: &str = "errand";

fn keyring_entry(name: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, name)
}

/// Values go to the system keyring unless `$ERRAND_SECRETS` names a file to keep them in.
fn use_keyring() -> bool {
    std::env::var_os("ERRAND_SECRETS").is_none_or(|v| v.is_empty())
}

/// A stored secret's value, from the file or the keyring.
fn value_of(s: &Stored, path: &Path) -> Result<String> {
    match (&s.value, s.keyring) {
        (Some(v), _) => Ok(v.clone()),
        // (The keyring's error repeats its causes in its own text: that text alone.)
        (None, true) => keyring_entry(&s.name).and_then(|e| e.get_password()).map_err(|e| anyhow::anyhow!("{e}")).with_context(|| {
            format!("secret {} is kept in the system keyring, which could not be read; unlock the keyring, or store the secret again with `errand secrets set {} --host …`", s.name, s.name)
        }),
        (None, false) => bail!("secret {} in {} has no value; store it again with `errand secrets set {} --host …`", s.name, path.display(), s.name),
    }
}

/// The store's location.
pub fn path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ERRAND_SECRETS").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    allowlist::file::default_path().map(|p| p.with_file_name("secrets.json"))
}

fn load(path: &Path) -> Result<Store> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t)
            .with_context(|| format!("{} is not a secrets file errand wrote; move it away and store the secrets again", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(path: &Path, store: &Store) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp =
        tempfile::Builder::new().prefix(".secrets-").tempfile_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    // (tempfile makes it readable by its owner only.)
    tmp.write_all(serde_json::to_string_pretty(store)?.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Can a value bound to `pattern` go to `url`?
fn pattern_allows(pattern: &str, policy: &Policy, url: &str) -> bool {
    let https = url.starts_with("https://") || url.starts_with("wss://");
    let plain_ok = pattern.starts_with("http://") && url.starts_with("http://");
    (https || plain_ok) && matches!(policy.decide(url), Decision::Allow)
}

fn parse_hosts(hosts: &[String]) -> Result<Vec<(String, Policy)>> {
    hosts
        .iter()
        .map(|h| Policy::parse(std::slice::from_ref(h)).map(|p| (h.clone(), p)).map_err(|e| anyhow::anyhow!("--host {h}: {e}")))
        .collect()
}

/// The stored secrets as bindings for the browser's proxy, or an error naming the file.
pub fn bindings() -> Result<Vec<browser::secrets::Binding>> {
    let Some(path) = path() else { return Ok(vec![]) };
    let store = load(&path)?;
    let mut out = vec![];
    for s in store.secrets {
        let policies = parse_hosts(&s.hosts).with_context(|| format!("secret {} in {}", s.name, path.display()))?;
        let allows = Arc::new(move |url: &str| policies.iter().any(|(p, policy)| pattern_allows(p, policy, url)));
        let value = value_of(&s, &path)?;
        out.push(browser::secrets::Binding { name: s.name, value, hosts: s.hosts, allows });
    }
    Ok(out)
}

/// What the model is told: names and hosts only.
pub fn prompt(bindings: &[browser::secrets::Binding]) -> String {
    if bindings.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n\nStored secrets (you never see their values): to enter one, type the placeholder {{secret:NAME}} \
exactly; errand writes the value in only when it is sent to the secret's own hosts.",
    );
    for b in bindings {
        s.push_str(&format!("\n- {} (for {})", b.name, b.hosts.join(", ")));
    }
    s
}

fn read_value(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let v = dialoguer::Password::new()
            .with_prompt(format!("value of {name}"))
            .interact()
            .context("could not read the value from the terminal")?;
        return Ok(v);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("could not read the value from stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn run(cmd: SecretsCmd) -> ExitCode {
    match run_inner(cmd) {
        Ok(code) => code,
        Err(e) => {
            errln!("error: {e:#}");
            ExitCode::from(crate::exit::BAD_INPUT)
        }
    }
}

fn run_inner(cmd: SecretsCmd) -> Result<ExitCode> {
    let Some(path) = path() else { bail!("no home folder to keep secrets in; set ERRAND_SECRETS to a file path") };
    match cmd {
        SecretsCmd::Set { name, hosts } => {
            if !valid_name(&name) {
                bail!("{name:?} is not a secret name: use letters, digits, _ and -");
            }
            parse_hosts(&hosts)?;
            let mut store = load(&path)?;
            let value = read_value(&name)?;
            if value.is_empty() {
                bail!("no value given for {name}; nothing stored");
            }
            let was_in_keyring = store.secrets.iter().any(|s| s.name == name && s.keyring);
            let in_keyring = use_keyring()
                && match keyring_entry(&name).and_then(|e| e.set_password(&value)) {
                    Ok(()) => true,
                    Err(e) => {
                        errln!("no system keyring to keep it in ({e}); keeping the value in {}, readable by you only", path.display());
                        false
                    }
                };
            let place =
                if in_keyring { format!("the system keyring (its hosts in {})", path.display()) } else { path.display().to_string() };
            store.secrets.retain(|s| s.name != name);
            store.secrets.push(Stored {
                name: name.clone(),
                hosts: hosts.clone(),
                value: (!in_keyring).then_some(value),
                keyring: in_keyring,
            });
            if let Err(e) = save(&path, &store) {
                // Leave no value in the keyring that no file names.
                if in_keyring && !was_in_keyring {
                    let _ = keyring_entry(&name).and_then(|e| e.delete_credential());
                }
                return Err(e);
            }
            // An older value of the same name left in the keyring goes.
            if was_in_keyring && !in_keyring {
                let _ = keyring_entry(&name).and_then(|e| e.delete_credential());
            }
            errln!("stored {name} for {} in {place}", hosts.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        SecretsCmd::List => {
            let store = load(&path)?;
            if store.secrets.is_empty() {
                errln!("no secrets stored ({}); add one with errand secrets set NAME --host PATTERN", path.display());
            }
            for s in &store.secrets {
                outln!("{}\t{}", s.name, s.hosts.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretsCmd::Remove { name } => {
            let mut store = load(&path)?;
            let Some(gone) = store.secrets.iter().find(|s| s.name == name).cloned() else {
                bail!("no secret named {name}; see errand secrets list");
            };
            if gone.keyring {
                match keyring_entry(&name).and_then(|e| e.delete_credential()) {
                    Ok(()) | Err(keyring::Error::NoEntry) => {}
                    Err(e) => bail!(
                        "could not remove {name} from the system keyring ({e}); nothing was changed: unlock the keyring and try again"
                    ),
                }
            }
            store.secrets.retain(|s| s.name != name);
            save(&path, &store)?;
            errln!("removed {name}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_goes_only_where_its_patterns_say_and_over_https_unless_told() {
        let cases = [
            ("bank.example", "https://bank.example/login", true),
            ("bank.example", "http://bank.example/login", false),
            ("bank.example", "https://evil.example/?bank.example", false),
            ("*.bank.example", "https://login.bank.example/", true),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/login", true),
            ("http://127.0.0.1:8080", "http://127.0.0.1:9090/login", false),
        ];
        for (pattern, url, want) in cases {
            let (p, policy) = parse_hosts(&[pattern.to_string()]).unwrap().remove(0);
            assert_eq!(pattern_allows(&p, &policy, url), want, "{pattern} {url}");
        }
        assert!(valid_name("bank_pw-2") && !valid_name("a b") && !valid_name("") && !valid_name("x}}"));
    }
}

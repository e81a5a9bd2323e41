//! Where each setting comes from: defaults, a network preset, the file, the
//! environment and the command line, in that order (a later one wins).
//!
//! Every setting has a dotted key (`chain.poll_ms`) and an environment
//! variable, `POR_` and the key in capitals with `_` for `.`
//! (`POR_CHAIN_POLL_MS`, `POR_PROTOCOL_POLICY_MISSED_SYNCS`). Lists are
//! comma-separated (`POR_CHAIN_RPC=https://a,https://b`), `[services]` is
//! `POR_SERVICES=echo=http://127.0.0.1:9000/echo,web=…`, booleans are
//! `true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`). A value that does not
//! fit its setting is an error naming the variable. `POR_` variables that
//! are not settings are ignored with a warning, except those the CLI reads
//! itself ([`NOT_SETTINGS`]).
//!
//! Paths in the file (`[node].data_dir`, `[node].channel_backup`,
//! `[files].share_dirs`, `[files].download_dir`) are relative to the file's
//! directory; from the environment or a flag, to the working directory. Key
//! files (`[chain].account_key_file`, `[chain].function_key_file`) stay
//! relative to `data_dir`.
//!
//! `[node].network` picks a [`Network`] preset for `[chain].contract`,
//! `[chain].rpc` and `[node].bootstrap`; it may itself come from any layer
//! but the defaults.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::{Table, Value};

use super::network::Network;
use super::{ConfigError, FileConfig};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "from", rename_all = "lowercase")]
pub enum Source {
    /// The built-in default.
    Default,
    /// A network preset (`[node].network`).
    Network(Network),
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Network(n) => write!(f, "network {n}"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(l) => write!(f, "flag {l}"),
        }
    }
}

/// `POR_` variables that are not settings: read by the CLI itself, or by the
/// container scripts around it.
pub const NOT_SETTINGS: &[&str] = &[
    "POR_API_TOKEN",
    "POR_CONFIG",
    "POR_LOG_FORMAT",
    "POR_LOG",
    "POR_OUTPUT",
    "POR_NODE_SEED",
    "POR_FUZZ_CASES",
    "POR_STORE_CRASH_CHILD",
];

/// The shape of a setting's value, for reading it from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Text.
    Str,
    /// A whole number.
    Int,
    /// `true` or `false`.
    Bool,
    /// A list of text, comma-separated.
    List,
    /// `name=value` pairs, comma-separated (`[services]`).
    Map,
}

/// Settings whose default is "not set", which the defaults cannot show.
const OPTIONAL: &[(&str, Kind)] = &[
    ("node.network", Kind::Str),
    ("node.channel_backup", Kind::Str),
    ("api.metrics_listen", Kind::Str),
    ("chain.function_key_file", Kind::Str),
    ("chain.accept_deposit", Kind::Str),
    ("chain.reconnect_deposit", Kind::Str),
    ("files.download_dir", Kind::Str),
    ("protocol.policy.sever_overdue_after_ms", Kind::Int),
    ("services", Kind::Map),
];

/// Settings that are paths, relative to the file's directory when the file
/// gives them.
const PATHS: &[&str] = &["node.data_dir", "node.channel_backup", "files.share_dirs", "files.download_dir"];

/// Every setting: its dotted key and kind, in order.
pub fn settings() -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    let defaults = Value::try_from(FileConfig::default()).expect("the defaults serialise");
    leaves(&defaults, "", &mut |k, v| {
        let kind = match v {
            Value::Integer(_) => Kind::Int,
            Value::Boolean(_) => Kind::Bool,
            Value::Array(_) => Kind::List,
            Value::Table(_) => Kind::Map,
            _ => Kind::Str,
        };
        out.push((k.to_string(), kind));
    });
    for (k, kind) in OPTIONAL {
        if !out.iter().any(|(o, _)| o == k) {
            out.push((k.to_string(), *kind));
        }
    }
    out.sort();
    out
}

/// The environment variable of the setting `key`.
pub fn env_var(key: &str) -> String {
    format!("POR_{}", key.replace('.', "_").to_uppercase())
}

/// Calls `f` on every leaf of `v` (a value that is not a table, or the
/// `services` table) with its dotted key.
fn leaves(v: &Value, prefix: &str, f: &mut impl FnMut(&str, &Value)) {
    match v {
        Value::Table(t) if prefix != "services" => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(v, &key, f);
            }
        }
        _ => f(prefix, v),
    }
}

fn set(t: &mut Table, key: &str, v: Value) {
    match key.split_once('.') {
        None => {
            t.insert(key.to_string(), v);
        }
        Some((head, rest)) => {
            let sub = t.entry(head.to_string()).or_insert_with(|| Value::Table(Table::new()));
            if !sub.is_table() {
                *sub = Value::Table(Table::new());
            }
            set(sub.as_table_mut().expect("a table"), rest, v);
        }
    }
}

fn get<'a>(t: &'a Table, key: &str) -> Option<&'a Value> {
    match key.split_once('.') {
        None => t.get(key),
        Some((head, rest)) => get(t.get(head)?.as_table()?, rest),
    }
}

/// A configuration could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {error} (create one with `por init`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A value from the environment or a flag does not fit its setting.
    #[error("{from}: {value:?} {problem}")]
    Value {
        /// The variable or flag.
        from: Source,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The settings together are not a valid configuration; `source` says
    /// where the offending setting came from, when that is known.
    #[error("{error}{}", from.as_ref().map(|s| format!(" (from {s})")).unwrap_or_default())]
    Invalid {
        /// What is wrong.
        error: ConfigError,
        /// Where it came from.
        from: Option<Source>,
    },
    /// A relative `data_dir` in the file now means another directory than
    /// it did when it was relative to the working directory.
    #[error(
        "{file}: [node].data_dir {given:?} is relative to the config file's directory, which makes it {resolved}, \
         but the node's key is in {old}: set data_dir to {old_abs:?} (or move the file)"
    )]
    MovedDataDir {
        /// The config file.
        file: PathBuf,
        /// The value in the file.
        given: String,
        /// Where it points now.
        resolved: PathBuf,
        /// Where a node key is.
        old: PathBuf,
        /// That, absolute.
        old_abs: String,
    },
}

/// What the command line sets: `(key, value, flag)`, the value as typed.
#[derive(Debug, Clone, Default)]
pub struct Flags(pub Vec<(String, FlagValue, String)>);

/// A flag's value: one, or a repeated flag's list.
#[derive(Debug, Clone)]
pub enum FlagValue {
    /// One value.
    One(String),
    /// Every occurrence of a repeatable flag.
    Many(Vec<String>),
}

/// A configuration with the source of every setting.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The checked configuration.
    pub config: FileConfig,
    /// The effective settings as a tree (what `config` was read from).
    pub tree: Table,
    /// Where each setting (dotted key) came from.
    pub sources: BTreeMap<String, Source>,
    /// The file, if one was read.
    pub file: Option<PathBuf>,
}

fn parse_value(kind: Kind, text: &str, source: &Source) -> Result<Value, LoadError> {
    let bad =
        |problem: &str| LoadError::Value { from: source.clone(), value: text.to_string(), problem: problem.into() };
    Ok(match kind {
        Kind::Str => Value::String(text.to_string()),
        Kind::Int => Value::Integer(text.trim().parse().map_err(|_| bad("is not a whole number"))?),
        Kind::Bool => Value::Boolean(match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(bad("is not true or false")),
        }),
        Kind::List => Value::Array(
            text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect(),
        ),
        Kind::Map => {
            let mut t = Table::new();
            for pair in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| bad("is not a list of name=value pairs"))?;
                if k.trim().is_empty() {
                    return Err(bad("has a pair with no name"));
                }
                t.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            Value::Table(t)
        }
    })
}

fn resolve_path(v: &Value, dir: &Path) -> Value {
    let join = |s: &str| {
        let p = Path::new(s);
        if p.is_absolute() { s.to_string() } else { dir.join(p).display().to_string() }
    };
    match v {
        Value::String(s) => Value::String(join(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_path(x, dir)).collect()),
        other => other.clone(),
    }
}

/// Puts the configuration together: the defaults, the preset of
/// `[node].network` if one is named, the file `file` (if given), the
/// environment `env` (`POR_…` pairs) and the `flags`.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &Flags,
) -> Result<Loaded, LoadError> {
    let text = match file {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|error| LoadError::Read { path: path.into(), error })?)
        }
        None => None,
    };
    let file = file.zip(text.as_deref()).map(|(p, t)| (t, Some(p)));
    load_text(file, env, flags)
}

/// As [`load`], with the file's text given; its paths are relative to the
/// directory of its path, if it has one, else to the working directory.
pub fn load_text(
    file: Option<(&str, Option<&Path>)>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &Flags,
) -> Result<Loaded, LoadError> {
    let kinds: BTreeMap<String, Kind> = settings().into_iter().collect();
    let by_var: BTreeMap<String, (String, Kind)> =
        kinds.iter().map(|(k, kind)| (env_var(k), (k.clone(), *kind))).collect();

    // The layers above the defaults, each as (key, value, source).
    let mut upper: Vec<(String, Value, Source)> = Vec::new();
    if let Some((text, path)) = file {
        let shown = path.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("(configuration text)"));
        let table: Table = toml::from_str(text).map_err(|e| LoadError::Invalid {
            error: ConfigError::Parse(format!("{}: {e}", shown.display())),
            from: None,
        })?;
        let dir = path.map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default());
        let dir = dir.map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d });
        let mut found = Vec::new();
        leaves(&Value::Table(table.clone()), "", &mut |k, v| found.push((k.to_string(), v.clone())));
        for (k, v) in found {
            let v = match &dir {
                Some(dir) if PATHS.contains(&k.as_str()) => resolve_path(&v, dir),
                _ => v,
            };
            if let (Some(path), "node.data_dir") = (path, k.as_str()) {
                let given = get(&table, &k).and_then(Value::as_str);
                let cwd = std::env::current_dir().unwrap_or_default();
                check_moved_data_dir(path, given, &v, &cwd)?;
            }
            upper.push((k, v, Source::File(shown.clone())));
        }
    }
    let mut env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("POR_")).collect();
    env.sort();
    for (var, text) in env {
        match by_var.get(&var) {
            Some((key, kind)) => {
                let source = Source::Env(var.clone());
                upper.push((key.clone(), parse_value(*kind, &text, &source)?, source));
            }
            None if NOT_SETTINGS.contains(&var.as_str()) => {}
            None => tracing::warn!(variable = %var, "{var} is not a setting of por: ignored (see `por config show`)"),
        }
    }
    for (key, value, flag) in &flags.0 {
        let kind = kinds.get(key).copied().unwrap_or(Kind::Str);
        let source = Source::Flag(flag.clone());
        let v = match value {
            FlagValue::One(t) => parse_value(kind, t, &source)?,
            FlagValue::Many(list) => Value::Array(list.iter().map(|s| Value::String(s.clone())).collect()),
        };
        upper.push((key.clone(), v, source));
    }

    // The network named by the highest layer that names one.
    let mut network = None;
    for (k, v, source) in upper.iter().rev() {
        if k == "node.network" {
            let name = v.as_str().unwrap_or_default();
            let n = name.parse::<Network>().map_err(|e| LoadError::Value {
                from: source.clone(),
                value: name.to_string(),
                problem: format!("is not a network: {}", e.to_string().trim_start_matches("unknown network ")),
            })?;
            network = Some(n);
            break;
        }
    }

    let mut tree = match Value::try_from(FileConfig::default()).expect("the defaults serialise") {
        Value::Table(t) => t,
        _ => unreachable!("a struct serialises as a table"),
    };
    let mut sources = BTreeMap::new();
    for k in kinds.keys() {
        sources.insert(k.clone(), Source::Default);
    }
    if let Some(n) = network {
        let p = n.preset();
        let list = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
        for (k, v) in [
            ("chain.contract", Value::String(p.contract.clone())),
            ("chain.rpc", list(&p.rpc)),
            ("node.bootstrap", list(&p.bootstrap)),
        ] {
            set(&mut tree, k, v);
            sources.insert(k.to_string(), Source::Network(n));
        }
    }
    for (k, v, source) in upper {
        set(&mut tree, &k, v);
        sources.insert(k, source);
    }
    let config = check(&tree, &sources)?;
    Ok(Loaded { config, tree, sources, file: file.and_then(|(_, p)| p).map(Path::to_path_buf) })
}

/// Refuses a relative `data_dir` that used to point (from the working
/// directory) at a node's data and now points elsewhere.
fn check_moved_data_dir(file: &Path, given: Option<&str>, resolved: &Value, cwd: &Path) -> Result<(), LoadError> {
    let (Some(given), Some(resolved)) = (given, resolved.as_str()) else { return Ok(()) };
    if Path::new(given).is_absolute() {
        return Ok(());
    }
    let old = cwd.join(given);
    let resolved = PathBuf::from(resolved);
    if resolved.join("node.key").exists() || !old.join("node.key").exists() {
        return Ok(());
    }
    if old.canonicalize().ok() == resolved.canonicalize().ok() {
        return Ok(());
    }
    let old_abs = old.canonicalize().unwrap_or_else(|_| old.clone()).display().to_string();
    Err(LoadError::MovedDataDir { file: file.into(), given: given.into(), resolved, old, old_abs })
}

/// Reads the tree as a configuration and checks it; an error names the
/// source of the setting at fault.
fn check(tree: &Table, sources: &BTreeMap<String, Source>) -> Result<FileConfig, LoadError> {
    let invalid = |error: ConfigError, key: Option<&str>| LoadError::Invalid {
        from: key.and_then(|k| sources.get(k)).filter(|s| **s != Source::Default).cloned(),
        error,
    };
    let cfg: FileConfig = match Value::Table(tree.clone()).try_into() {
        Ok(c) => c,
        Err(e) => {
            // Find the setting at fault: the first set one that, alone on
            // the defaults, does not read.
            let defaults = match Value::try_from(FileConfig::default()).expect("the defaults serialise") {
                Value::Table(t) => t,
                _ => unreachable!("a struct serialises as a table"),
            };
            let culprit = sources.iter().filter(|(_, s)| **s != Source::Default).find(|(k, _)| {
                let mut t = defaults.clone();
                match get(tree, k) {
                    Some(v) => set(&mut t, k, v.clone()),
                    None => return false,
                }
                Value::Table(t).try_into::<FileConfig>().is_err()
            });
            let key = culprit.map(|(k, _)| k.as_str());
            let what = match key {
                Some(k) => format!("{k}: {e}"),
                None => e.to_string(),
            };
            return Err(invalid(ConfigError::Parse(what), key));
        }
    };
    cfg.check().map_err(|e| {
        let key = e.key();
        invalid(e, key)
    })?;
    Ok(cfg)
}

/// One line per setting: key, value (as TOML) and source.
pub fn show_table(l: &Loaded) -> String {
    let mut rows = Vec::new();
    for (key, _) in settings() {
        let value = get(&l.tree, &key).map(|v| v.to_string()).unwrap_or_else(|| "(not set)".into());
        let source = l.sources.get(&key).cloned().unwrap_or(Source::Default);
        rows.push((key, value, source.to_string()));
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).min(60);
    let mut out = format!("{:<w0$}  {:<w1$}  {}\n", "setting", "value", "source");
    for (k, v, s) in rows {
        out += &format!("{k:<w0$}  {v:<w1$}  {s}\n");
    }
    out
}

/// The settings as JSON: `{key: {value, source, env}}`.
pub fn show_json(l: &Loaded) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (key, _) in settings() {
        let value = get(&l.tree, &key)
            .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null))
            .unwrap_or(serde_json::Value::Null);
        let source = l.sources.get(&key).cloned().unwrap_or(Source::Default);
        out.insert(
            key.clone(),
            serde_json::json!({ "value": value, "source": source.to_string(), "env": env_var(&key) }),
        );
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_setting_of_the_example_file_has_a_variable() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/por.example.toml")).unwrap();
        let kinds: BTreeMap<String, Kind> = settings().into_iter().collect();
        let mut t: Table = toml::from_str(&text).unwrap();
        // The example leaves some optional settings commented out: set them.
        for k in ["node.channel_backup", "chain.function_key_file", "node.network"] {
            set(&mut t, k, Value::String("x".into()));
        }
        set(&mut t, "protocol.policy.sever_overdue_after_ms", Value::Integer(0));
        leaves(&Value::Table(t), "", &mut |k, _| assert!(kinds.contains_key(k), "{k} has no POR_ variable"));
        assert_eq!(env_var("protocol.policy.missed_syncs"), "POR_PROTOCOL_POLICY_MISSED_SYNCS");
    }

    #[test]
    fn layers_win_in_order_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("por.toml");
        std::fs::write(&file, "[node]\ndata_dir = \"data\"\nnetwork = \"devnet\"\n[chain]\npoll_ms = 5\n").unwrap();
        let flags = Flags(vec![("chain.poll_ms".into(), FlagValue::One("7".into()), "--poll-ms".into())]);
        let l = load(
            Some(&file),
            env(&[("POR_CHAIN_POLL_MS", "6"), ("POR_API_LISTEN", "127.0.0.1:9"), ("HOME", "/x")]),
            &flags,
        )
        .unwrap();
        assert_eq!(l.config.chain.poll_ms, 7);
        assert_eq!(l.sources["chain.poll_ms"], Source::Flag("--poll-ms".into()));
        assert_eq!(l.config.api.listen, "127.0.0.1:9");
        assert_eq!(l.sources["api.listen"], Source::Env("POR_API_LISTEN".into()));
        // Paths in the file are relative to its directory.
        assert_eq!(l.config.node.data_dir, dir.path().join("data"));
        assert_eq!(l.sources["node.data_dir"], Source::File(file.clone()));
        // The devnet preset filled in what nothing else set.
        assert_eq!(l.config.chain.contract, "por.devnet");
        assert_eq!(l.config.chain.rpc, vec!["http://127.0.0.1:3030".to_string()]);
        assert_eq!(l.config.node.bootstrap.len(), 1);
        assert_eq!(l.sources["chain.rpc"], Source::Network(Network::Devnet));
        assert_eq!(l.sources["node.drain_timeout_secs"], Source::Default);
    }

    #[test]
    fn external_addresses_come_from_the_environment_or_flags_and_are_checked() {
        let none = Flags::default();
        let l = load(None, env(&[("POR_NODE_EXTERNAL_ADDRESSES", "/ip4/203.0.113.7/tcp/1,/dns4/x.org/tcp/2")]), &none)
            .unwrap();
        assert_eq!(l.config.node.external_addresses, ["/ip4/203.0.113.7/tcp/1", "/dns4/x.org/tcp/2"]);
        assert_eq!(l.sources["node.external_addresses"], Source::Env("POR_NODE_EXTERNAL_ADDRESSES".into()));
        let flags = Flags(vec![(
            "node.external_addresses".into(),
            FlagValue::Many(vec!["/ip4/198.51.100.1/tcp/4001".into()]),
            "--external-address".into(),
        )]);
        let l = load(None, env(&[("POR_NODE_EXTERNAL_ADDRESSES", "/ip4/203.0.113.7/tcp/1")]), &flags).unwrap();
        assert_eq!(l.config.node.external_addresses, ["/ip4/198.51.100.1/tcp/4001"]);
        assert_eq!(l.sources["node.external_addresses"], Source::Flag("--external-address".into()));
        let e =
            load(None, env(&[("POR_NODE_EXTERNAL_ADDRESSES", "/ip4/0.0.0.0/tcp/1")]), &none).unwrap_err().to_string();
        assert!(e.contains("[node].external_addresses") && e.contains("POR_NODE_EXTERNAL_ADDRESSES"), "{e}");
    }

    #[test]
    fn hostile_values_name_their_variable_or_flag() {
        let none = Flags::default();
        let e = load(None, env(&[("POR_CHAIN_POLL_MS", "soon")]), &none).unwrap_err().to_string();
        assert!(e.contains("POR_CHAIN_POLL_MS") && e.contains("soon") && e.contains("whole number"), "{e}");
        let e = load(None, env(&[("POR_PROTOCOL_SYNC_WHEN_IDLE", "maybe")]), &none).unwrap_err().to_string();
        assert!(e.contains("POR_PROTOCOL_SYNC_WHEN_IDLE") && e.contains("true or false"), "{e}");
        let e = load(None, env(&[("POR_NODE_NETWORK", "mainnet")]), &none).unwrap_err().to_string();
        assert!(e.contains("POR_NODE_NETWORK") && e.contains("mainnet") && e.contains("devnet and testnet"), "{e}");
        let e = load(None, env(&[("POR_NODE_LISTEN", "/ip4/0.0.0.0/tcp/1,nonsense")]), &none).unwrap_err().to_string();
        assert!(e.contains("[node].listen") && e.contains("POR_NODE_LISTEN"), "{e}");
        let e = load(None, env(&[("POR_CHAIN_RPC", "https://a.example,rpc.example")]), &none).unwrap_err().to_string();
        assert!(e.contains("rpc.example") && e.contains("POR_CHAIN_RPC"), "{e}");
        let e = load(None, env(&[("POR_SERVICES", "echo")]), &none).unwrap_err().to_string();
        assert!(e.contains("POR_SERVICES") && e.contains("name=value"), "{e}");
        let e = load(None, env(&[("POR_PROTOCOL_LIMITS_MAX_VALUE_IN_FLIGHT", "lots")]), &none).unwrap_err().to_string();
        assert!(e.contains("POR_PROTOCOL_LIMITS_MAX_VALUE_IN_FLIGHT") && e.contains("lots"), "{e}");
        let flags = Flags(vec![("chain.poll_ms".into(), FlagValue::One("x".into()), "--poll-ms".into())]);
        let e = load(None, Vec::new(), &flags).unwrap_err().to_string();
        assert!(e.contains("--poll-ms") && e.contains("whole number"), "{e}");
        // Variables that are not settings are ignored.
        load(None, env(&[("POR_API_TOKEN", "x"), ("POR_NOT_A_THING", "1")]), &none).unwrap();
    }

    #[test]
    fn a_data_dir_that_moved_with_the_new_rule_is_refused() {
        let cwd = tempfile::tempdir().unwrap();
        let conf = cwd.path().join("etc");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::create_dir_all(cwd.path().join("data")).unwrap();
        std::fs::write(cwd.path().join("data/node.key"), "00").unwrap();
        let file = conf.join("por.toml");
        let resolved = Value::String(conf.join("data").display().to_string());
        // From the working directory `data` held a node key; from the
        // file's directory it is another, empty directory: refused.
        let e = check_moved_data_dir(&file, Some("data"), &resolved, cwd.path()).unwrap_err().to_string();
        assert!(e.contains("relative to the config file's directory") && e.contains("node's key"), "{e}");
        // Where the file's directory has the key, or the old place has none, fine.
        std::fs::create_dir_all(conf.join("data")).unwrap();
        std::fs::write(conf.join("data/node.key"), "00").unwrap();
        check_moved_data_dir(&file, Some("data"), &resolved, cwd.path()).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::remove_file(conf.join("data/node.key")).unwrap();
        check_moved_data_dir(&file, Some("data"), &resolved, elsewhere.path()).unwrap();
    }
}

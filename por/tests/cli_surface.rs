//! The `por` binary behaves like other daemons: settings from a file (paths
//! relative to it), `POR_` variables and flags, each value's source shown by
//! `por config show`; hostile values refused naming the variable or flag;
//! logs on stderr at `info` by default, moved by `-v`/`-q`, JSON on request;
//! results as a table or JSON; completions and a man page from the clap
//! definitions.

mod cli_common;

use cli_common::{Node, free_port, por, text};
use serde_json::Value;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

#[test]
fn config_show_names_each_source_and_paths_follow_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let file = etc.join("por.toml");
    std::fs::write(&file, "[node]\nnetwork = \"testnet\"\ndata_dir = \"data\"\n[chain]\npoll_ms = 5\n").unwrap();
    let f = file.to_str().unwrap();
    let o = por(
        tmp.path(),
        &[
            "config",
            "show",
            "--config",
            f,
            "--output",
            "json",
            "--rpc",
            "https://a.example",
            "--rpc",
            "https://b.example",
        ],
        &[("POR_API_LISTEN", "127.0.0.1:9999"), ("POR_CHAIN_POLL_MS", "6")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    let s = &v["settings"];
    assert_eq!(s["node.data_dir"]["value"], etc.join("data").display().to_string(), "relative to the file");
    assert_eq!(s["node.data_dir"]["source"], format!("file {f}"));
    assert_eq!(s["chain.poll_ms"]["value"], 6);
    assert_eq!(s["chain.poll_ms"]["source"], "env POR_CHAIN_POLL_MS");
    assert_eq!(s["api.listen"]["source"], "env POR_API_LISTEN");
    assert_eq!(s["chain.rpc"]["value"], serde_json::json!(["https://a.example", "https://b.example"]));
    assert_eq!(s["chain.rpc"]["source"], "flag --rpc");
    assert_eq!(s["chain.contract"]["source"], "network testnet");
    assert_eq!(s["node.listen"]["source"], "default");
    assert_eq!(s["protocol.policy.missed_syncs"]["env"], "POR_PROTOCOL_POLICY_MISSED_SYNCS");
    // A flag beats its variable; clap's reading of the variable is not a flag.
    let o = por(tmp.path(), &["config", "show", "--config", f, "--poll-ms", "7"], &[("POR_CHAIN_POLL_MS", "6")]);
    assert!(o.status.success(), "{}", text(&o));
    let row = String::from_utf8_lossy(&o.stdout).lines().find(|l| l.starts_with("chain.poll_ms")).unwrap().to_string();
    assert!(row.contains(" 7 ") && row.ends_with("flag --poll-ms"), "{row}");
    let o = por(tmp.path(), &["config", "show", "--config", f, "--output", "json"], &[("POR_CHAIN_POLL_MS", "6")]);
    assert_eq!(json_of(&o)["settings"]["chain.poll_ms"]["source"], "env POR_CHAIN_POLL_MS");
    // Every other setting has a flag too: --set KEY=VALUE.
    let o = por(
        tmp.path(),
        &[
            "config",
            "show",
            "--config",
            f,
            "--output",
            "json",
            "--set",
            "protocol.policy.offline_grace_ms=45000",
            "--set",
            "chain.reconnect_peers=carol.testnet,dave.testnet",
        ],
        &[("POR_PROTOCOL_POLICY_OFFLINE_GRACE_MS", "1000")],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = &json_of(&o)["settings"];
    assert_eq!(s["protocol.policy.offline_grace_ms"]["value"], 45000);
    assert_eq!(s["protocol.policy.offline_grace_ms"]["source"], "flag --set protocol.policy.offline_grace_ms");
    assert_eq!(s["chain.reconnect_peers"]["value"], serde_json::json!(["carol.testnet", "dave.testnet"]));
    for (bad, says) in [("nonsense", "KEY=VALUE"), ("chain.no_such=1", "not a setting")] {
        let o = por(tmp.path(), &["config", "show", "--config", f, "--set", bad], &[]);
        assert!(!o.status.success() && text(&o).contains(says), "{bad}: {}", text(&o));
    }
}

#[test]
fn hostile_settings_are_refused_naming_the_variable_or_flag() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, env, says) in [
        (vec![], vec![("POR_CHAIN_POLL_MS", "soon")], vec!["POR_CHAIN_POLL_MS", "soon", "whole number"]),
        (vec![], vec![("POR_NODE_NETWORK", "mainnet")], vec!["POR_NODE_NETWORK", "mainnet", "devnet and testnet"]),
        (vec!["--network", "mainnet"], vec![], vec!["--network", "mainnet"]),
        (vec![], vec![("POR_CHAIN_RPC", "https://a.example,b.example")], vec!["POR_CHAIN_RPC", "b.example"]),
        (vec!["--rpc", "ftp://x.example"], vec![], vec!["--rpc", "ftp://x.example", "http or https"]),
        (vec!["--rpc", "http://a:1", "--rpc", "http://a:1"], vec![], vec!["listed twice"]),
        (vec![], vec![("POR_NODE_LISTEN", "nonsense")], vec!["[node].listen", "POR_NODE_LISTEN"]),
        (vec![], vec![("POR_PROTOCOL_SYNC_WHEN_IDLE", "perhaps")], vec!["POR_PROTOCOL_SYNC_WHEN_IDLE"]),
    ] {
        let mut a = vec!["config", "show"];
        a.extend(args.iter().copied());
        let o = por(tmp.path(), &a, &env);
        assert!(!o.status.success(), "{a:?} {env:?} was accepted: {}", text(&o));
        for word in says {
            assert!(text(&o).contains(word), "{a:?} {env:?}: the error does not say {word:?}: {}", text(&o));
        }
    }
    // The same for the node itself, before it starts anything.
    let o = por(tmp.path(), &["node", "run", "--config", "missing.toml"], &[]);
    assert!(!o.status.success() && text(&o).contains("missing.toml"), "{}", text(&o));
    // A node that would sign for the testnet preset's placeholder contract.
    std::fs::write(tmp.path().join("t.toml"), "[node]\nnetwork = \"testnet\"\n[chain]\naccount = \"a.testnet\"\n")
        .unwrap();
    let o = por(tmp.path(), &["node", "run", "--config", "t.toml"], &[]);
    assert!(!o.status.success() && text(&o).contains("placeholder"), "{}", text(&o));
    let o = por(tmp.path(), &["--output", "yaml", "peers"], &[]);
    assert!(!o.status.success() && text(&o).contains("yaml"), "{}", text(&o));
    let o = por(tmp.path(), &["init", "--network", "mainnet", "--data-dir", "d"], &[]);
    assert!(!o.status.success() && text(&o).contains("mainnet") && text(&o).contains("--network"), "{}", text(&o));
    assert!(!tmp.path().join("d").exists(), "nothing written");
}

#[test]
fn logs_go_to_stderr_at_info_and_move_with_v_q_and_format() {
    let tmp = tempfile::tempdir().unwrap();
    // An unknown POR_ variable is a warning; a node's start is info.
    let env = [("POR_NOT_A_SETTING", "1")];
    let o = por(tmp.path(), &["config", "show", "--output", "json"], &env);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("POR_NOT_A_SETTING") && err.contains("WARN"), "{err}");
    json_of(&o); // stdout holds the result alone
    let o = por(tmp.path(), &["config", "show", "-qq"], &env);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("POR_NOT_A_SETTING"), "{}", text(&o));
    let o = por(tmp.path(), &["config", "show", "--log-format", "json"], &env);
    let line =
        String::from_utf8_lossy(&o.stderr).lines().find(|l| l.contains("POR_NOT_A_SETTING")).unwrap().to_string();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "WARN", "{v}");

    // A node: info lines by default, on stderr; none with -q; debug with -v.
    let config = tmp.path().join("por.toml");
    std::fs::write(&config, "[node]\ndata_dir = \"data\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n").unwrap();
    let c = config.to_str().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    for (flags, expect_info, expect_debug) in
        [(vec![], true, false), (vec!["-q"], false, false), (vec!["-v"], true, true)]
    {
        let mut args = vec!["--config", c, "--api-listen", &api];
        args.extend(flags.iter().copied());
        let node = Node::start_with(&args, &[], tmp.path().join("node.log")).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let out = node.output();
        assert!(out.lines().any(|l| l.starts_with("api ") && l.contains(&api)), "the flag set the API address:\n{out}");
        assert!(!out.contains('\x1b'), "no colours into a file:\n{out}");
        assert_eq!(out.contains(" INFO "), expect_info, "{flags:?}:\n{out}");
        assert_eq!(out.contains(" DEBUG "), expect_debug, "{flags:?}:\n{out}");
        drop(node);
    }
    // The data directory is relative to the file.
    assert!(tmp.path().join("data/node.key").exists());
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = por(tmp.path(), &["completions", shell], &[]);
        assert!(o.status.success(), "{shell}: {}", text(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        // (fish names long options without their dashes.)
        for word in ["init", "testnet", "completions", "log-format", "output"] {
            assert!(script.contains(word), "{shell}'s script does not know {word}");
        }
    }
    let o = por(tmp.path(), &["completions", "tcsh"], &[]);
    assert!(!o.status.success() && text(&o).contains("tcsh"), "{}", text(&o));
    let o = por(tmp.path(), &["man"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH por"), "{page}");
    for word in ["Proof of Response", "init", "config", "\\-\\-output"] {
        assert!(page.contains(word), "the man page does not mention {word}:\n{page}");
    }
}

#[test]
fn results_print_as_a_table_or_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let args = ["init", "--no-register", "--data-dir", data.to_str().unwrap()];
    let o = por(tmp.path(), &args, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.lines().any(|l| l.starts_with("peer_id ")), "{table}");
    let o = por(tmp.path(), &[&args[..], &["--output", "json"]].concat(), &[("POR_OUTPUT", "table")]);
    let v = json_of(&o);
    assert!(v["peer_id"].as_str().unwrap().starts_with("12D3"), "{v}");
    assert!(table.contains(v["peer_id"].as_str().unwrap()), "the same result both ways");
    let o = por(tmp.path(), &args, &[("POR_OUTPUT", "json")]);
    assert_eq!(json_of(&o)["node_key"], v["node_key"]);
}

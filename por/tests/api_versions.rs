//! The HTTP API is served under `/v1`, with the routes of before kept as
//! aliases; the token scopes and the probes' exemption are the same under
//! the prefix; the CLI calls the `/v1` routes.

mod cli_common;

use std::process::Command;

use cli_common::{Node, free_port, por, text};

/// `curl -X METHOD url` with `token` (if any); returns the HTTP status and the body.
fn curl(method: &str, url: &str, token: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-X", method, "-H", "Content-Type: application/json", "-w", "\n%{http_code}", url]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if method == "POST" {
        c.args(["-d", "{}"]);
    }
    let out = String::from_utf8_lossy(&c.output().unwrap().stdout).to_string();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

#[test]
fn every_route_answers_under_v1_and_at_its_old_path_with_the_same_scopes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("por.toml");
    std::fs::write(&config, "[node]\ndata_dir = \"data\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n").unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let c = config.to_str().unwrap();
    let node = Node::start_with(&["--config", c, "--api-listen", &api], &[], tmp.path().join("node.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    let read = |f: &str| std::fs::read_to_string(tmp.path().join("data").join(f)).unwrap().trim().to_string();
    let (admin, readonly) = (read("api-admin.token"), read("api-readonly.token"));
    let base = format!("http://{api}");

    for path in ["/status", "/channels", "/peers", "/files", "/metrics"] {
        let (v1, v1_body) = curl("GET", &format!("{base}/v1{path}"), Some(&admin));
        let (old, old_body) = curl("GET", &format!("{base}{path}"), Some(&admin));
        assert_eq!((v1, old), (200, 200), "{path}: {v1_body} / {old_body}");
        if path == "/channels" || path == "/files" {
            assert_eq!(v1_body, old_body, "{path}: one handler behind both");
        }
        let (anon, _) = curl("GET", &format!("{base}/v1{path}"), None);
        assert_eq!(anon, 401, "{path} needs a token under /v1 too");
    }
    for probe in ["/livez", "/readyz"] {
        for path in [format!("/v1{probe}"), probe.to_string()] {
            let (code, body) = curl("GET", &format!("{base}{path}"), None);
            assert!(code == 200 || code == 503, "{path} needs no token: {code} {body}");
        }
    }
    // The read-only token's limits hold under the prefix.
    let (code, body) = curl("GET", &format!("{base}/v1/channels/backup"), Some(&readonly));
    assert_eq!(code, 403, "{body}");
    let (code, body) = curl("POST", &format!("{base}/v1/channels/1/sever"), Some(&readonly));
    assert_eq!(code, 403, "{body}");
    // Only v1 exists.
    let (code, _) = curl("GET", &format!("{base}/v2/status"), Some(&admin));
    assert_eq!(code, 404);

    // The CLI (which calls /v1: apiclient's unit test) finds the token from the config.
    let o = por(tmp.path(), &["status", "--config", c, "--api", &base, "--output", "json"], &[]);
    assert!(o.status.success() && text(&o).contains("node_key"), "{}", text(&o));
    drop(node);
}

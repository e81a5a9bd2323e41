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

    for path in ["/status", "/channels", "/peers", "/files", "/metrics", "/network"] {
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
    // The network page's files hold no data: no token, under /v1 too.
    for path in ["/ui", "/v1/ui", "/ui/app.js", "/ui/style.css"] {
        let (code, body) = curl("GET", &format!("{base}{path}"), None);
        assert_eq!(code, 200, "{path}: {body}");
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

/// Every route `por node run` serves, as the OpenAPI document must list it
/// (paths without the `/v1` server prefix).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/status"),
    ("get", "/channels"),
    ("post", "/channels"),
    ("get", "/channels/backup"),
    ("post", "/channels/{id}/confirm"),
    ("post", "/channels/{id}/close"),
    ("post", "/channels/{id}/sever"),
    ("get", "/peers"),
    ("get", "/routes"),
    ("post", "/send"),
    ("post", "/request"),
    ("get", "/metrics"),
    ("get", "/livez"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("get", "/network"),
    ("get", "/ui"),
    ("get", "/ui/app.js"),
    ("get", "/ui/style.css"),
    ("get", "/files"),
    ("post", "/files/add"),
    ("post", "/files/get"),
    ("get", "/files/get/{id}"),
];

/// Every `$ref` in `v`.
fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_lists_every_route_served_and_its_schemas_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("por.toml");
    std::fs::write(&config, "[node]\ndata_dir = \"data\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n").unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let c = config.to_str().unwrap();
    let node = Node::start_with(&["--config", c, "--api-listen", &api], &[], tmp.path().join("node.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = std::fs::read_to_string(tmp.path().join("data/api-admin.token")).unwrap().trim().to_string();
    let base = format!("http://{api}");
    let (code, body) = curl("GET", &format!("{base}/v1/openapi.json"), Some(&admin));
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["servers"][0]["url"], "/v1");

    // Exactly the routes served, each with its method.
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let expected: std::collections::BTreeSet<_> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected, "the document and the routes differ");

    // Each documented route is served (a handler answers: never axum's
    // bare 404 for an unknown path, nor 405).
    for (method, path) in &documented {
        let id = if path.starts_with("/files") { "0".repeat(64) } else { "1".to_string() };
        let path = path.replace("{id}", &id);
        let (code, body) = curl(&method.to_uppercase(), &format!("{base}/v1{path}"), Some(&admin));
        assert!(code != 405 && (code != 404 || body.contains("\"code\"")), "{method} /v1{path}: {code} {body}");
    }

    // Every reference resolves; the probes need no token, the rest the bearer.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() >= 20, "{all:?}");
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r} does not resolve");
    }
    assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));
    assert_eq!(doc["paths"]["/livez"]["get"]["security"], serde_json::json!([{}]));
    assert!(doc["paths"]["/status"]["get"].get("security").is_none());

    // The answers have the fields their schemas require.
    for (path, schema) in
        [("/status", "StatusView"), ("/channels", "ChannelList"), ("/peers", "PeerList"), ("/files", "FilesList")]
    {
        let (code, body) = curl("GET", &format!("{base}/v1{path}"), Some(&admin));
        assert_eq!(code, 200, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        for field in doc["components"]["schemas"][schema]["required"].as_array().unwrap() {
            assert!(v.get(field.as_str().unwrap()).is_some(), "{path} lacks {field}: {v}");
        }
    }
    drop(node);
}

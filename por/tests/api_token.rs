//! The API's tokens with the real `por` binary: `por init` writes them
//! (mode 0600) and keeps them; `por node run` requires them on every route
//! but the probes, the node's and the files' alike, and serves `/metrics`
//! without one on its metrics listener; the CLI finds the token by itself
//! from the config (or `--token-file`, or `POR_API_TOKEN`); a token file
//! others may read is refused by name; an older data directory without
//! tokens gets new ones at start, which is also how a token is rotated.

mod cli_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use cli_common::{Node, free_port, por, text};

/// One HTTP/1.1 request from loopback as a program sends it: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = if method == "POST" { "{}" } else { "" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Connection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn tokens_from_init_guard_every_route_and_the_cli_finds_them() {
    let tmp = tempfile::tempdir().unwrap();
    // `./por-data` under the working directory: `por init`'s default place,
    // where the CLI looks when given no config.
    let data = tmp.path().join("por-data");
    let (api_port, metrics_port) = (free_port(), free_port());
    let api: SocketAddr = format!("127.0.0.1:{api_port}").parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let init_args = [
        "init",
        "--data-dir",
        data.to_str().unwrap(),
        "--no-register",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api",
        &api.to_string(),
        "--metrics-listen",
        &metrics.to_string(),
    ];
    let o = por(tmp.path(), &init_args, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (admin_file, read_file) = (data.join("api-admin.token"), data.join("api-readonly.token"));
    assert!(text(&o).contains(&admin_file.display().to_string()), "init says where the token is: {}", text(&o));
    let read_token = |f: &Path| std::fs::read_to_string(f).unwrap().trim().to_string();
    let (admin, read) = (read_token(&admin_file), read_token(&read_file));
    for (f, t) in [(&admin_file, &admin), (&read_file, &read)] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        assert!(t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()), "{}: {t:?}", f.display());
    }
    assert_ne!(admin, read);
    let o = por(tmp.path(), &init_args, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!((read_token(&admin_file), read_token(&read_file)), (admin.clone(), read.clone()), "init keeps them");

    let config = data.join("por.toml");
    let node = Node::start(&config, tmp.path().join("node.log")).unwrap_or_else(|out| panic!("node exited:\n{out}"));
    assert!(node.output().contains(&admin_file.display().to_string()), "node run says where the token is");

    // Every route but the probes needs a token: the node's and the files'.
    let routes = [
        ("GET", "/status"),
        ("GET", "/channels"),
        ("POST", "/channels/1/sever"),
        ("POST", "/send"),
        ("GET", "/metrics"),
        ("GET", "/files"),
        ("POST", "/files/add"),
        ("POST", "/files/get"),
        ("GET", &format!("/files/get/{}", "ab".repeat(32))),
    ];
    let wrong = "0".repeat(64);
    for (method, path) in routes {
        for token in [None, Some(wrong.as_str())] {
            let (status, body) = http(api, method, path, token);
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert!(body.contains("\"unauthorized\""), "{body}");
        }
        let (status, body) = http(api, method, path, Some(&admin));
        assert!(!matches!(status, 401 | 403), "{method} {path} with the admin token: {status} {body}");
        let (status, body) = http(api, method, path, Some(&read));
        if method == "POST" {
            assert_eq!(status, 403, "{method} {path} with the read-only token: {body}");
            assert!(body.contains("\"forbidden_scope\""), "{body}");
        } else {
            assert!(!matches!(status, 401 | 403), "{method} {path} with the read-only token: {status} {body}");
        }
    }
    for probe in ["/livez", "/readyz"] {
        assert_eq!(http(api, "GET", probe, None).0, 200, "{probe}");
    }
    // What Prometheus scrapes: the metrics listener, no token.
    let (status, body) = http(metrics, "GET", "/metrics", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("por_") && body.contains("# EOF"), "{body}");
    assert_eq!(http(metrics, "GET", "/status", Some(&admin)).0, 404, "the metrics listener serves metrics only");

    // The CLI finds the token: from --config, from ./por-data/por.toml, from
    // --token-file, from POR_API_TOKEN.
    let elsewhere = tempfile::tempdir().unwrap();
    let cfg = config.to_str().unwrap();
    let o = por(elsewhere.path(), &["status", "--config", cfg], &[]);
    assert!(o.status.success() && text(&o).contains("node_key"), "{}", text(&o));
    for args in
        [&["peers", "--config", cfg][..], &["channel", "list", "--config", cfg], &["files", "ls", "--config", cfg]]
    {
        let o = por(elsewhere.path(), args, &[]);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    let o = por(tmp.path(), &["status"], &[]);
    assert!(o.status.success() && text(&o).contains("node_key"), "default config: {}", text(&o));
    // An admin route passes the token check and fails for what it asks.
    let o = por(elsewhere.path(), &["channel", "sever", "1", "--config", cfg], &[]);
    assert!(!o.status.success() && text(&o).contains("no chain account"), "{}", text(&o));
    let url = format!("http://{api}");
    let o = por(elsewhere.path(), &["status", "--api", &url], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("401") && text(&o).contains("no token found"), "{}", text(&o));
    let o = por(elsewhere.path(), &["status", "--api", &url, "--token-file", read_file.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = por(elsewhere.path(), &["status", "--api", &url], &[("POR_API_TOKEN", &read)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = por(elsewhere.path(), &["channel", "sever", "1", "--api", &url], &[("POR_API_TOKEN", &read)]);
    assert!(!o.status.success() && text(&o).contains("403"), "{}", text(&o));
    drop(node);

    // A token file its group may read: refused at start, by name.
    std::fs::set_permissions(&read_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = Node::start(&config, tmp.path().join("loose.log")).err().expect("a loose token file stops the node");
    assert!(out.contains(&read_file.display().to_string()) && out.contains("chmod 600"), "{out}");
    let o = por(elsewhere.path(), &["status", "--config", cfg], &[]);
    assert!(!o.status.success(), "the CLI refuses it too: {}", text(&o));

    // An older data directory without tokens gets new ones at start (and
    // that rotates them: the old token no longer works).
    std::fs::remove_file(&admin_file).unwrap();
    std::fs::remove_file(&read_file).unwrap();
    let node = Node::start(&config, tmp.path().join("again.log")).unwrap_or_else(|out| panic!("node exited:\n{out}"));
    assert!(node.output().contains("created the API's token files"), "{}", node.output());
    let new_admin = read_token(&admin_file);
    assert_ne!(new_admin, admin);
    assert_eq!((mode(&admin_file), mode(&read_file)), (0o600, 0o600));
    assert_eq!(http(api, "GET", "/status", Some(&admin)).0, 401, "the old token is refused");
    assert_eq!(http(api, "GET", "/status", Some(&new_admin)).0, 200);
    let o = por(elsewhere.path(), &["status", "--config", cfg], &[]);
    assert!(o.status.success(), "{}", text(&o));
}

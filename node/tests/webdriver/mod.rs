//! Driving the network page in a real headless browser: Debian's
//! `chromium` over WebDriver (`chromedriver`'s HTTP JSON protocol, with
//! reqwest). Shared by node/tests/network_page.rs and, by path, by
//! por/tests/network_page.rs.
//!
//! `make test` installs chromium and chromium-driver (the deps step); where
//! they truly cannot be installed [`browser`] says so loudly and the test
//! skips, except under CI (`CI` set), where it fails.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

// `until` comes from the test that includes this module (node/tests/common
// or por/tests/chain_common, both from node/tests/common/until.rs).
use crate::until;

/// The page's nodes (accounts, sorted), edges (`channel:state`, sorted), servers and events (newest first), from its DOM.
fn find(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

/// chromium and chromedriver, or none (with the loud message) where they
/// cannot be had outside CI.
pub fn browser() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    // Debian's /usr/bin/chromium is a wrapper script; the browser is beside the driver.
    let real = std::path::PathBuf::from("/usr/lib/chromium/chromium");
    let chromium = if real.is_file() { Some(real) } else { find(&["chromium", "chromium-browser"]) };
    match (chromium, find(&["chromedriver"])) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let msg = format!(
                "network_page: chromium ({}) or chromedriver ({}) is missing: `make deps` installs Debian's chromium \
                 and chromium-driver",
                c.map_or("missing".into(), |p| p.display().to_string()),
                d.map_or("missing".into(), |p| p.display().to_string())
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI must run this test");
            }
            eprintln!("\n{}\nSKIPPED: {msg}\n{}\n", "!".repeat(78), "!".repeat(78));
            None
        }
    }
}

/// A chromedriver process, ended when dropped.
pub struct Driver {
    child: Child,
    url: String,
    pub session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    /// Ends the browser (the session), then chromedriver, also when the
    /// test failed half-way: a browser left behind would outlive the test.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if !self.session.is_empty()
            && let Ok(mut s) = std::net::TcpStream::connect(self.url.trim_start_matches("http://"))
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.session,
                self.url.trim_start_matches("http://")
            );
            let _ = s.write_all(req.as_bytes());
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start(chromium: &std::path::Path, chromedriver: &std::path::Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut d = Driver { child, url, session: String::new(), http };
        until(Duration::from_secs(20), "chromedriver answers", || async {
            d.http.get(format!("{}/status", d.url)).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1200,1400"]
            }
        }}});
        let v = d.call("POST", "/session", caps).await;
        d.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        d
    }

    pub async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let r = req.send().await.unwrap_or_else(|e| panic!("chromedriver {path}: {e}"));
        let v: Value = r.json().await.unwrap();
        v.get("value").cloned().unwrap_or(v)
    }

    pub async fn go(&self, url: &str) {
        self.call("POST", &format!("/session/{}/url", self.session), json!({ "url": url })).await;
    }

    /// Runs `script` in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.call("POST", &format!("/session/{}/execute/sync", self.session), json!({ "script": script, "args": [] }))
            .await
    }
}

/// What the page shows, read from its DOM.
pub const READ_PAGE: &str = r#"
  return {
    nodes: [...document.querySelectorAll('[data-node]')].map(g => g.dataset.account).sort(),
    edges: [...document.querySelectorAll('[data-edge]')].map(l => l.dataset.edge + ':' + l.dataset.state).sort(),
    servers: [...document.querySelectorAll('#servers tbody tr')].map(r => r.dataset.server),
    events: [...document.querySelectorAll('#events tbody tr')].map(r => r.dataset.kind),
    href: location.href,
    login: !document.getElementById('login').hidden,
    status: document.getElementById('status').textContent,
  };
"#;

//! `por network`: the network as a running node sees it, the same answer
//! its web page draws (`GET /v1/network`, [`por_node::api::network`]):
//! the graph's nodes and edges, the servers it used ranked by responses
//! within bound, and recent chain events, as tables, or the answer itself
//! as JSON (`--json`, or `--output json`).

use anyhow::anyhow;
use clap::Args;
use por_node::api::network::NetworkView;
use por_node::outcomes::Counts;

use crate::apiclient::{NodeApi, call, format_near};

/// `por network`'s arguments.
#[derive(Args, Debug)]
pub struct NetworkArgs {
    /// Print the node's answer as JSON (as `--output json`).
    #[arg(long)]
    pub json: bool,
    /// Chain events to show, newest (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub events: usize,
}

/// Reads the view from the node at `api`: a clear error when the node
/// cannot be reached or answers something that is not a network view.
pub async fn fetch(api: &NodeApi, events: usize) -> anyhow::Result<NetworkView> {
    let v = call(api, "GET", &format!("/network?events={events}"), None).await.map_err(|e| anyhow!("{e}"))?;
    serde_json::from_value(v).map_err(|e| {
        anyhow!("the node at {api} answered /v1/network with something that is not a network view: {e} (is it a por node of this version?)")
    })
}

fn ratio(c: &Counts) -> String {
    c.on_time_ratio().map_or("-".into(), |r| format!("{:.1}%", 100.0 * r))
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = w[i])).collect();
        format!("{}\n", s.join("  ").trim_end())
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    if rows.is_empty() {
        out += "(none)\n";
    }
    for r in rows {
        out += &line(r.clone());
    }
    out
}

fn short(s: &str) -> String {
    if s.len() > 16 { format!("{}…", &s[..12]) } else { s.to_string() }
}

fn ago(now: u64, at: u64) -> String {
    let s = now.saturating_sub(at) / 1000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

/// The view as tables for people.
pub fn render_tables(v: &NetworkView) -> String {
    let name = |key: &str| v.nodes.iter().find(|n| n.key == key).map(|n| n.account.clone()).filter(|a| !a.is_empty());
    let mut out = match v.graph_version {
        Some(g) => format!("graph version {g}: {} nodes, {} edges\n\n", v.nodes.len(), v.edges.len()),
        None => "no graph yet: the node has not read the chain\n\n".into(),
    };
    let nodes: Vec<Vec<String>> = v
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.index.to_string(),
                if n.account.is_empty() { "-".into() } else { n.account.clone() },
                format_near(n.stake.parse().unwrap_or(0)),
                if n.active { "active" } else { "inactive" }.into(),
                short(&n.key),
                if n.me { "this node" } else { "" }.into(),
            ]
        })
        .collect();
    out += "NODES\n";
    out += &table(&["index", "account", "stake", "status", "key", ""], &nodes);
    let account = |i: u32| v.nodes.get(i as usize).map_or(i.to_string(), |n| n.account.clone());
    let edges: Vec<Vec<String>> = v
        .edges
        .iter()
        .map(|e| {
            vec![
                e.channel.to_string(),
                account(e.a),
                account(e.b),
                e.state.clone(),
                e.by.clone().unwrap_or_else(|| "-".into()),
                e.on_time_ratio_1h.map_or("-".into(), |r| format!("{:.1}%", 100.0 * r)),
                e.ended_1h.to_string(),
            ]
        })
        .collect();
    out += "\nEDGES (on time: this node's requests over the edge in the last hour)\n";
    out += &table(&["channel", "a", "b", "state", "by", "on time 1h", "ended 1h"], &edges);
    let servers: Vec<Vec<String>> = v
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let w = |k: &str| s.windows.get(k).cloned().unwrap_or_default();
            let h = w("1h");
            let refused = h.refused.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
            vec![
                (i + 1).to_string(),
                name(&s.key).unwrap_or_else(|| short(&s.key)),
                w("5m").on_time.to_string(),
                h.on_time.to_string(),
                w("24h").on_time.to_string(),
                h.late.to_string(),
                h.late_ms_total.checked_div(h.late).map_or("-".into(), |avg| format!("{avg} / {}", h.late_ms_max)),
                h.notices.to_string(),
                if refused.is_empty() { "0".into() } else { refused },
                ratio(&h),
            ]
        })
        .collect();
    out += "\nSERVERS (ranked by responses within bound in the last hour)\n";
    out += &table(
        &[
            "#",
            "server",
            "on time 5m",
            "1h",
            "24h",
            "late 1h",
            "late avg/max ms",
            "notices 1h",
            "refused 1h",
            "share 1h",
        ],
        &servers,
    );
    let events: Vec<Vec<String>> = v
        .events
        .iter()
        .rev()
        .map(|e| {
            vec![
                e.seq.to_string(),
                ago(v.now_ms, e.at_ms),
                e.kind.clone(),
                e.channel.map_or("-".into(), |c| c.to_string()),
                e.nodes.join(" – "),
                e.by.clone().unwrap_or_else(|| "-".into()),
                e.amount.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out += &format!("\nCHAIN EVENTS (newest first; {} requests of this node pending)\n", v.pending);
    out += &table(&["#", "seen", "event", "channel", "nodes", "by", "amount (yocto)"], &events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(status: u16, body: &'static str) -> NodeApi {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(move || async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) });
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        NodeApi::new(&format!("http://{addr}"), None)
    }

    #[tokio::test]
    async fn unreachable_and_garbage_answers_are_clear_errors() {
        // Nothing listens there (a port just freed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = fetch(&NodeApi::new(&format!("http://127.0.0.1:{port}"), None), 5).await.unwrap_err().to_string();
        assert!(e.contains("cannot reach the node's API"), "{e}");
        let e = fetch(&serve(200, "<html>hello</html>").await, 5).await.unwrap_err().to_string();
        assert!(e.contains("non-JSON"), "{e}");
        let e = fetch(&serve(200, r#"{"nodes": 3}"#).await, 5).await.unwrap_err().to_string();
        assert!(e.contains("not a network view"), "{e}");
        let e = fetch(&serve(401, r#"{"error": "no token", "code": "unauthorized"}"#).await, 5).await.unwrap_err();
        assert!(e.to_string().contains("no token"), "{e}");
    }

    #[test]
    fn tables_name_every_node_edge_server_and_event() {
        let v: NetworkView = serde_json::from_value(serde_json::json!({
            "node_key": "aa", "graph_version": 4, "pending": 1, "now_ms": 70_000,
            "nodes": [
                {"index": 0, "key": "k0", "account": "n0.test", "stake": "5000000000000000000000000", "active": true, "me": true},
                {"index": 1, "key": "k1", "account": "n1.test", "stake": "2000000000000000000000000", "active": false, "me": false}
            ],
            "edges": [{"channel": 7, "a": 0, "b": 1, "state": "severed", "by": "n0.test", "on_time_ratio_1h": 0.5, "ended_1h": 4}],
            "servers": [{"key": "k1", "last_ms": 1, "windows": {
                "5m": {"on_time": 1, "late": 1, "late_ms_total": 30, "late_ms_max": 30, "notices": 0, "refused": {}, "overdue": 0},
                "1h": {"on_time": 2, "late": 1, "late_ms_total": 30, "late_ms_max": 30, "notices": 0, "refused": {"busy": 1}, "overdue": 0},
                "24h": {"on_time": 3, "late": 1, "late_ms_total": 30, "late_ms_max": 30, "notices": 0, "refused": {"busy": 1}, "overdue": 0},
                "all": {"on_time": 3, "late": 1, "late_ms_total": 30, "late_ms_max": 30, "notices": 0, "refused": {"busy": 1}, "overdue": 0}}}],
            "observed_edges": [],
            "events": [{"seq": 3, "at_ms": 10_000, "graph_version": 4, "kind": "channel_severed", "channel": 7,
                        "nodes": ["n0.test", "n1.test"], "by": "n0.test", "amount": null}]
        }))
        .unwrap();
        let t = render_tables(&v);
        for want in [
            "graph version 4: 2 nodes, 1 edges",
            "n0.test",
            "5.00 NEAR",
            "inactive",
            "this node",
            "severed",
            "50.0%",
            "busy 1",
            "30 / 30",
            "channel_severed",
            "1m ago",
            "1 requests of this node pending",
        ] {
            assert!(t.contains(want), "{want:?} missing from\n{t}");
        }
        // Servers by name: n1.test ranked first with 2 on time in the hour, 50 % of 4 ended.
        let servers = t.split("SERVERS").nth(1).unwrap_or_else(|| panic!("{t}"));
        let row =
            servers.lines().find(|l| l.starts_with("1 ") && l.contains("n1.test")).unwrap_or_else(|| panic!("{t}"));
        assert!(row.contains("50.0%"), "{row}");
    }
}

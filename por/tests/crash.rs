//! Issue #17 on a devnet: honest nodes survive crashes and restarts without
//! being cut (DESIGN §2.11). Five nodes in a line, 0–1–2–3–4, node 0 sending
//! a steady stream of paid requests through relays 1 and 2 to server 3; relay
//! 2 is the one that dies (its event loop and chain agent aborted, nothing
//! flushed, as under `kill -9`) and comes back from its data directory.

mod chain_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chain_common::{ChainNet, DEPOSIT, until};
use por_core::protocol::{Delivery, ProtocolConfig};
use por_core::{ChannelId, EdgeParams, Route, RouteHop};
use por_node::chain::ChannelState;
use por_node::{Reply, ServiceRequest};

const RELAY: usize = 2;
const SERVER: usize = 3;
/// The server's registered service time.
const SERVICE_MS: u64 = 1_000;

fn edge() -> EdgeParams {
    EdgeParams { latency_ms: 50, base_fee: 1_000, byte_fee: 1 }
}

/// The line with `offline_grace_ms` on every node; the channels' ids (in
/// the line's order, then `extra`'s).
async fn line(grace_ms: u64, extra: &[(usize, usize)]) -> (ChainNet, Vec<u64>) {
    let net = ChainNet::start(5, SERVICE_MS, |_| {
        let mut c = ProtocolConfig::default();
        c.policy.offline_grace_ms = grace_ms;
        c
    })
    .await;
    let mut ids = Vec::new();
    for a in 0..4 {
        ids.push(net.open(a, a + 1, edge()).await);
    }
    for &(a, b) in extra {
        ids.push(net.open(a, b, edge()).await);
    }
    // The server takes most of its promised time, so that a relay killed
    // at any moment is in the middle of requests.
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(SERVICE_MS * 3 / 5)).await;
        Reply::ok(r.body)
    });
    net.nodes[SERVER].node.handle.serve("echo", slow).await.unwrap();
    (net, ids)
}

/// 0 → 1 → 2 → 3, over the line's first three channels.
fn route(net: &ChainNet, ids: &[u64]) -> Route {
    let hops = (1..=SERVER)
        .map(|i| RouteHop { channel: ChannelId(ids[i - 1]), node: net.nodes[i].node.key, params: edge() })
        .collect();
    Route { hops, service_ms: SERVICE_MS }
}

/// What happened to the requests of the stream.
#[derive(Default)]
struct Tally {
    sent: usize,
    responses: usize,
    notices: usize,
    /// Refused by the first hop, by code.
    refused: std::collections::BTreeMap<String, usize>,
    late_fees: u128,
}

/// Node 0 sends one request every `every` until `stop`; each outcome is
/// counted as it comes.
fn stream(
    net: &ChainNet,
    ids: &[u64],
    every: Duration,
    stop: Arc<Mutex<bool>>,
) -> (Arc<Mutex<Tally>>, tokio::task::JoinHandle<()>) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (h, route, t) = (net.nodes[0].node.handle.clone(), route(net, ids), tally.clone());
    let task = tokio::spawn(async move {
        let mut waiting = Vec::new();
        while !*stop.lock().unwrap() {
            if let Ok((id, mut rx)) = h.request(route.clone(), "echo", b"steady".to_vec(), 64).await {
                t.lock().unwrap().sent += 1;
                let (t, h) = (t.clone(), h.clone());
                waiting.push(tokio::spawn(async move {
                    let mut ended = false;
                    while let Some(d) = rx.recv().await {
                        let mut t = t.lock().unwrap();
                        match d {
                            Delivery::Response { .. } => (t.responses, ended) = (t.responses + 1, true),
                            Delivery::Notice { .. } => (t.notices, ended) = (t.notices + 1, true),
                            Delivery::LatePayment { amount, .. } => t.late_fees += amount,
                            Delivery::Acked { .. } => {}
                            Delivery::Refused { refused, .. } => {
                                *t.refused.entry(refused.reason.code().to_string()).or_default() += 1;
                                ended = true;
                            }
                        }
                    }
                    if !ended {
                        // The stream closed without an outcome: a refusal.
                        let code = match h.refusal(id).await {
                            Ok(Some(r)) => r.code.map_or("none".to_string(), |c| c.code().to_string()),
                            _ => "lost".to_string(),
                        };
                        *t.lock().unwrap().refused.entry(code).or_default() += 1;
                    }
                }));
            }
            tokio::time::sleep(every).await;
        }
        for w in waiting {
            let _ = tokio::time::timeout(Duration::from_secs(60), w).await;
        }
    });
    (tally, task)
}

/// Every channel is still open on chain; once the requests have settled,
/// the books of both ends of every channel agree ([`books_agree`]).
async fn nothing_cut_and_books_agree(net: &ChainNet, ids: &[u64]) {
    for &id in ids {
        let ch = net.view.channel(id).await.unwrap().unwrap();
        assert_eq!(ch.state, ChannelState::Open, "channel {id} was not cut");
    }
    until(Duration::from_secs(20), "every request is settled", || async {
        let mut busy = 0;
        for n in &net.nodes {
            busy += n.node.handle.status().await.unwrap().in_flight;
        }
        busy == 0
    })
    .await;
    books_agree(net, ids).await;
}

/// Both ends of every channel agree on what was paid over it: what one
/// has received is what the other has paid, so no acknowledged voucher was
/// lost by either.
async fn books_agree(net: &ChainNet, ids: &[u64]) {
    for (a, &id) in ids.iter().enumerate() {
        let b = a + 1;
        let sa = net.nodes[a].node.handle.status().await.unwrap();
        let sb = net.nodes[b].node.handle.status().await.unwrap();
        let ca = sa.channels.iter().find(|c| c.0 == ChannelId(id)).expect("open at a");
        let cb = sb.channels.iter().find(|c| c.0 == ChannelId(id)).expect("open at b");
        let (paid_a, paid_b) = (DEPOSIT + ca.3 - ca.2, DEPOSIT + cb.3 - cb.2);
        assert_eq!(ca.3, paid_b, "channel {id}: node {a} holds what node {b} paid");
        assert_eq!(cb.3, paid_a, "channel {id}: node {b} holds what node {a} paid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_five_times_under_traffic_loses_no_channel_and_no_voucher() {
    let (mut net, ids) = line(30_000, &[]).await;
    let stop = Arc::new(Mutex::new(false));
    let (tally, traffic) = stream(&net, &ids, Duration::from_millis(150), stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut carried = 0;
    for round in 0..5 {
        // Kill it while it carries requests.
        let h = net.nodes[RELAY].node.handle.clone();
        until(Duration::from_secs(10), "the relay carries requests", || async {
            h.status().await.is_ok_and(|s| s.in_flight > 0)
        })
        .await;
        net.crash_and_restart(RELAY, Duration::from_secs(3)).await;
        let h = net.nodes[RELAY].node.handle.clone();
        carried += h.status().await.unwrap().in_flight;
        until(Duration::from_secs(15), &format!("round {round}: the relay is back with its channels"), || async {
            h.status().await.is_ok_and(|s| s.channels.len() == 2 && s.peers >= 2)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    *stop.lock().unwrap() = true;
    traffic.await.unwrap();
    assert!(carried > 0, "the relay came back with requests in flight");
    {
        let t = tally.lock().unwrap();
        assert!(t.sent >= 50, "a steady stream: {} requests", t.sent);
        // Every request ends, answered, or refused (costing node 0 nothing
        // but credit) by the relay just started, before it has read the
        // chain's graph: the refusal comes up from below as one (`send`
        // would retry those later or elsewhere).
        let refused: usize = t.refused.values().sum();
        assert_eq!(
            t.responses + refused,
            t.sent,
            "every request ended ({} notices, refused {:?})",
            t.notices,
            t.refused
        );
        assert!(t.refused.keys().all(|k| k == "no_terms"), "{:?}", t.refused);
        assert!(
            t.responses * 10 >= t.sent * 9,
            "most were answered: {} of {} (refused {:?})",
            t.responses,
            t.sent,
            t.refused
        );
        assert!(t.late_fees > 0, "the downtime made requests late, and the lateness was paid");
    }
    nothing_cut_and_books_agree(&net, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_gone_longer_than_the_grace_is_cut_by_its_neighbours() {
    // A short grace keeps the test short; the rule is the same at 30 s. The
    // extra edge 1–3 keeps the graph in one piece once 1–2 is cut, so the
    // cut is a plain severance, not a partition.
    let (mut net, ids) = line(3_000, &[(1, 3)]).await;
    let stop = Arc::new(Mutex::new(false));
    let (tally, traffic) = stream(&net, &ids, Duration::from_millis(300), stop.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Down for good (its event loop and agent aborted, never restarted).
    let n = &mut net.nodes[RELAY];
    n.agent.abort();
    n.node.task.abort();
    until(Duration::from_secs(30), "the neighbour with requests in flight cuts the relay", || async {
        net.view.channel(ids[1]).await.unwrap().is_some_and(|c| c.state == ChannelState::Severed)
    })
    .await;
    *stop.lock().unwrap() = true;
    traffic.await.unwrap();
    // Node 1, the relay's upstream, cut it and paid half the penalty; node 0
    // got an outcome for every request.
    let half = net.view.config().await.unwrap().severance_penalty / 2;
    let cutter = net.view.node(&net.nodes[1].account).await.unwrap().unwrap();
    assert_eq!(cutter.stake, chain_common::STAKE - half, "the cutter paid half the severance penalty");
    {
        let t = tally.lock().unwrap();
        // (A request sent as the cut lands may be refused by a first hop
        // that already knows the edge is gone: an end too, before any ack.)
        let refused: usize = t.refused.values().sum();
        assert_eq!(t.responses + t.notices + refused, t.sent, "every request ended (refused {:?})", t.refused);
        assert!(!t.refused.contains_key("none") && !t.refused.contains_key("lost"), "{:?}", t.refused);
        assert!(t.notices > 0, "the requests in flight through the dead relay ended in notices");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_traffic_cuts_nothing_and_every_request_ends() {
    let (mut net, ids) = line(30_000, &[]).await;
    let stop = Arc::new(Mutex::new(false));
    let (tally, traffic) = stream(&net, &ids, Duration::from_millis(150), stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Every node that carries or serves the stream's requests, and the leaf,
    // in turn: SIGTERM's drain, a stop, a start.
    for i in 1..5 {
        let left = net.drain_and_restart(i, Duration::from_secs(10)).await;
        assert_eq!(left, 0, "node {i} finished its requests before it stopped");
        let h = net.nodes[i].node.handle.clone();
        let want = if i == 4 { 1 } else { 2 };
        until(Duration::from_secs(15), &format!("node {i} is back with its channels"), || async {
            h.status().await.is_ok_and(|s| s.channels.len() == want && s.peers >= want)
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    *stop.lock().unwrap() = true;
    traffic.await.unwrap();
    // The requester last, with nothing of its own in flight.
    assert_eq!(net.drain_and_restart(0, Duration::from_secs(10)).await, 0);
    {
        let t = tally.lock().unwrap();
        assert!(t.sent >= 50, "a steady stream: {} requests", t.sent);
        let refused: usize = t.refused.values().sum();
        assert_eq!(t.responses + t.notices + refused, t.sent, "every request ended");
        assert_eq!(t.notices, 0, "no notice: nothing was cut");
        // Refused before anyone acknowledged them (costing node 0 nothing but
        // credit): by a draining node, or by one just started that has not read
        // the chain's graph yet. (`send` would retry those elsewhere or later.)
        assert!(t.refused.contains_key("draining"), "{:?}", t.refused);
        // (And `none`: a request sent in the moment its first hop was
        // stopped and not yet started again, which could not be dialed: it
        // never left node 0.)
        assert!(t.refused.keys().all(|k| k == "draining" || k == "no_terms" || k == "none"), "{:?}", t.refused);
    }
    nothing_cut_and_books_agree(&net, &ids).await;
}

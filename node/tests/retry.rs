//! The requester's retry policy as the node drives it, over real nodes on
//! loopback: a silent first hop (connected and syncing, but dropping every
//! paid request: the engine's `drop_requests` test fault) gets no ack within
//! its round trip plus the ack grace, its channel is excluded, and the
//! request goes again over the other route. The simulator drives the same
//! situation through the same core code (`sim/tests/`) and expects the same
//! attempts.

mod common;

use std::time::Duration;

use common::spawn_network_with;
use por_core::{ChannelId, Edge, EdgeParams, Graph, NodeInfo};
use por_node::{AttemptResult, NetworkGraph, OutcomeKind, SendOptions};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const S: usize = 3;
const LATENCY_MS: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_first_hop_is_excluded_and_the_request_goes_around_it() {
    let net = spawn_network_with(4, |i, cfg| cfg.protocol.faults.drop_requests = i == B).await;
    // A–B–S is cheaper than A–C–S, so B is tried first.
    let cheap = EdgeParams { latency_ms: LATENCY_MS, base_fee: 100, byte_fee: 0 };
    let dear = EdgeParams { base_fee: 200, ..cheap };
    let edges = [(1, A, B, cheap), (2, B, S, cheap), (3, A, C, dear), (4, C, S, dear)];
    let mut g = Graph::new();
    for _ in 0..4 {
        g.add_node(NodeInfo { stake: 1, service_ms: 0 });
    }
    for (id, a, b, params) in edges {
        net.link(a, b, id, LATENCY_MS).await;
        g.add_edge(Edge { channel: ChannelId(id), a: a as u32, b: b as u32, params }).unwrap();
    }
    let keys = net.nodes.iter().map(|n| n.key).collect();
    net.nodes[A].handle.set_graph(NetworkGraph::new(1, g, keys, vec![String::new(); 4], vec![true; 4]));
    net.serve_echo(S).await;

    let mut opts = SendOptions::new(net.nodes[S].key, "echo");
    opts.body = b"around".to_vec();
    opts.ack_grace = Duration::from_millis(500);
    let out = net.nodes[A].handle.send(opts).await.expect("an outcome");

    let attempts: Vec<(Vec<u64>, AttemptResult)> =
        out.attempts.iter().map(|a| (a.channels.iter().map(|c| c.0).collect(), a.result.clone())).collect();
    assert_eq!(attempts, vec![(vec![1, 2], AttemptResult::NoAck), (vec![3, 4], AttemptResult::Response)], "{out:?}");
    assert!(!out.attempts[0].acked && out.attempts[1].acked, "{out:?}");
    // Both attempts were paid up front: the silent hop kept the first.
    assert_eq!(out.paid, out.attempts[0].cost + out.attempts[1].cost);
    let OutcomeKind::Response(r) = &out.kind else { panic!("expected a response: {out:?}") };
    assert_eq!(r.request_id, out.attempts[1].request_id);
}

/// A first hop whose copy of the chain's graph is behind the requester's
/// refuses the route (`unknown_edge`); the requester tries it again once
/// after the policy's graph lag, by when the first hop has caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_hop_with_an_older_graph_gets_a_second_try() {
    let net = spawn_network_with(3, |_, _| {}).await;
    let params = EdgeParams { latency_ms: LATENCY_MS, base_fee: 100, byte_fee: 0 };
    let graph = |edges: &[(u64, usize, usize)]| {
        let mut g = Graph::new();
        for _ in 0..3 {
            g.add_node(NodeInfo { stake: 1, service_ms: 0 });
        }
        for &(id, a, b) in edges {
            g.add_edge(Edge { channel: ChannelId(id), a: a as u32, b: b as u32, params }).unwrap();
        }
        let keys = net.nodes.iter().map(|n| n.key).collect();
        NetworkGraph::new(1, g, keys, vec![String::new(); 3], vec![true; 3])
    };
    net.link(0, 1, 1, LATENCY_MS).await;
    net.link(1, 2, 2, LATENCY_MS).await;
    let full = [(1, 0, 1), (2, 1, 2)];
    net.nodes[0].handle.set_graph(graph(&full));
    net.nodes[2].handle.set_graph(graph(&full));
    // The relay has not seen edge 2 yet; it does half a second later.
    net.nodes[1].handle.set_graph(graph(&full[..1]));
    net.serve_echo(2).await;
    let relay = net.nodes[1].handle.clone();
    let caught_up = graph(&full);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        relay.set_graph(caught_up);
    });
    let mut opts = SendOptions::new(net.nodes[2].key, "echo");
    opts.body = b"lag".to_vec();
    let out = net.nodes[0].handle.send(opts).await.expect("an outcome");
    let results: Vec<String> = out.attempts.iter().map(|a| a.result.to_string()).collect();
    assert_eq!(out.attempts.len(), 2, "{results:?}");
    let AttemptResult::Refused(why) = &out.attempts[0].result else { panic!("{results:?}") };
    assert_eq!(why.code, Some(por_core::protocol::Refusal::UnknownEdge), "{results:?}");
    assert_eq!(out.attempts[1].channels, out.attempts[0].channels, "the same route again");
    assert!(matches!(out.kind, OutcomeKind::Response(_)), "{out:?}");
}

/// Credit `(held for the peer, the peer holds for us)` of `node` on `channel`
/// as its store has it.
async fn credit(net: &common::Net, node: usize, channel: u64) -> (u128, u128) {
    let b = net.nodes[node].handle.channel_backup().await.unwrap().unwrap();
    b.channels.iter().find(|c| c.setup.channel == ChannelId(channel)).and_then(|c| c.credit).unwrap_or((0, 0))
}

/// A node past the first hop refuses after the first hop acknowledged (the
/// first hop acks as soon as it forwards): the refusal comes up as one, the
/// attempt ends refused and excludes the refuser's channel, the retry goes
/// around it, what the refused attempt paid is credit on both books of each
/// edge, and nobody is cut. Before, the relay was left owing late fees for
/// a request it could not carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_past_the_first_hop_comes_up_as_credit_and_the_retry_goes_around() {
    const D: usize = 4;
    let net = spawn_network_with(5, |i, cfg| cfg.protocol.faults.refuse_requests = i == D).await;
    // A–B–D–S is cheaper than A–C–S; D refuses everything.
    let cheap = EdgeParams { latency_ms: LATENCY_MS, base_fee: 100, byte_fee: 0 };
    let dear = EdgeParams { base_fee: 1_000, ..cheap };
    let edges = [(1, A, B, cheap), (2, B, D, cheap), (3, D, S, cheap), (4, A, C, dear), (5, C, S, dear)];
    let mut g = Graph::new();
    for _ in 0..5 {
        g.add_node(NodeInfo { stake: 1, service_ms: 0 });
    }
    for (id, a, b, params) in edges {
        net.link(a, b, id, LATENCY_MS).await;
        g.add_edge(Edge { channel: ChannelId(id), a: a as u32, b: b as u32, params }).unwrap();
    }
    let keys = net.nodes.iter().map(|n| n.key).collect();
    net.nodes[A].handle.set_graph(NetworkGraph::new(1, g, keys, vec![String::new(); 5], vec![true; 5]));
    net.serve_echo(S).await;

    let mut opts = SendOptions::new(net.nodes[S].key, "echo");
    opts.body = b"around".to_vec();
    let out = net.nodes[A].handle.send(opts).await.expect("an outcome");
    let attempts: Vec<(Vec<u64>, String)> =
        out.attempts.iter().map(|a| (a.channels.iter().map(|c| c.0).collect(), a.result.to_string())).collect();
    assert_eq!(attempts.len(), 2, "{out:?}");
    assert_eq!(attempts[0].0, vec![1, 2, 3], "{out:?}");
    assert!(attempts[0].1.starts_with("refused: refused below channel #2: "), "{out:?}");
    assert!(out.attempts[0].acked, "B acknowledged before D's refusal came up: {out:?}");
    assert_eq!(attempts[1], (vec![4, 5], "response".to_string()), "{out:?}");
    let AttemptResult::Refused(why) = &out.attempts[0].result else { panic!("{out:?}") };
    assert_eq!(why.code, Some(por_core::protocol::Refusal::Busy));

    // What the first attempt paid each edge is credit on both of its books.
    let cost = out.attempts[0].cost;
    let pay_bd = cost - cheap.base_fee;
    let want = [(A, B, 1, cost), (B, D, 2, pay_bd)];
    for (payer, payee, ch, amount) in want {
        let mut got = (0, 0);
        for _ in 0..50 {
            got = (credit(&net, payer, ch).await.1, credit(&net, payee, ch).await.0);
            if got == (amount, amount) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got, (amount, amount), "channel {ch}: credit on the payer's and the payee's books");
    }
    // Nobody cut anybody: every node still has both of its channels.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, n) in net.nodes.iter().enumerate() {
        let s = n.handle.status().await.unwrap();
        assert_eq!(s.channels.len(), 2, "node {i}: {s:?}");
    }
}

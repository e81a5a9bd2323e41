//! Nodes whose channels come from the chain: a devnet on loopback runs the
//! real contract; each node registers, its chain agent confirms the
//! channels proposed to it and follows the graph; requests are routed over
//! that graph by [`NodeHandle::send`](por_node::NodeHandle::send).

mod chain_common;

use std::time::Duration;

use chain_common::{ChainNet, DEPOSIT};
use por_core::protocol::ProtocolConfig;
use por_core::{ChannelId, EdgeParams};
use por_node::{OutcomeKind, Reply, SendOptions};

/// What node `i` has paid and received on `channel`, from its own books.
async fn books(net: &ChainNet, i: usize, channel: u64) -> (u128, u128) {
    let s = net.nodes[i].node.handle.status().await.unwrap();
    let Some(&(_, _, spendable, received)) = s.channels.iter().find(|c| c.0 == ChannelId(channel)) else {
        panic!("node {i} does not hold channel {channel}: {s:?}")
    };
    (DEPOSIT + received - spendable, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hop_request_over_channels_read_from_the_chain() {
    let net = ChainNet::start(4, 5, |_| ProtocolConfig::default()).await;
    let p = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 3 };
    let c01 = net.open(0, 1, p).await;
    let c12 = net.open(1, 2, p).await;
    let c23 = net.open(2, 3, p).await;
    net.wait_graph(0, 3).await;
    net.serve_echo(3).await;

    let mut opts = SendOptions::new(net.nodes[3].node.key, "echo");
    opts.body = b"over the chain's graph".to_vec();
    opts.max_response_bytes = 256;
    let out = net.nodes[0].node.handle.send(opts.clone()).await.unwrap();
    let OutcomeKind::Response(resp) = &out.kind else { panic!("no response: {out:?}") };
    assert_eq!(Reply::decode(&resp.body).unwrap().body, opts.body);
    assert_eq!(out.route.hops.iter().map(|h| h.channel.0).collect::<Vec<_>>(), vec![c01, c12, c23]);
    assert_eq!(out.attempts.len(), 1);
    assert_eq!(out.late_fees, 0);

    // Every channel moved by exactly the fees of DESIGN §2.3.
    let q = out.route.quote(opts.body.len() as u64, opts.max_response_bytes).unwrap();
    assert_eq!(out.paid, q.payments[0]);
    assert_eq!(q.payments.len(), 3);
    let per_edge = 1_000 + 3 * (opts.body.len() as u128 + 256);
    assert_eq!(q.payments, vec![3 * per_edge, 2 * per_edge, per_edge]);
    // Acks and vouchers travel asynchronously: wait for the last to land.
    chain_common::until(Duration::from_secs(10), "the server holds its voucher", || async {
        books(&net, 3, c23).await.1 == per_edge
    })
    .await;
    assert_eq!(books(&net, 0, c01).await, (q.payments[0], 0));
    assert_eq!(books(&net, 1, c01).await, (0, q.payments[0]));
    assert_eq!(books(&net, 1, c12).await, (q.payments[1], 0));
    assert_eq!(books(&net, 2, c12).await, (0, q.payments[1]));
    assert_eq!(books(&net, 2, c23).await, (q.payments[2], 0));
    assert_eq!(books(&net, 3, c23).await, (0, q.payments[2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_routes_around_a_hop_that_is_gone() {
    let net = ChainNet::start(4, 0, |_| ProtocolConfig::default()).await;
    let cheap = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 0 };
    let dear = EdgeParams { base_fee: 5_000, ..cheap };
    let c01 = net.open(0, 1, cheap).await;
    net.open(1, 3, cheap).await;
    let c02 = net.open(0, 2, dear).await;
    net.open(2, 3, dear).await;
    net.wait_graph(0, 4).await;
    net.serve_echo(3).await;

    // Node 1, on the cheapest route, goes away.
    net.nodes[1].node.handle.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut opts = SendOptions::new(net.nodes[3].node.key, "echo");
    opts.body = b"ping".to_vec();
    opts.ack_grace = Duration::from_millis(500);
    let out = net.nodes[0].node.handle.send(opts).await.unwrap();
    assert!(matches!(out.kind, OutcomeKind::Response(_)), "{out:?}");
    assert_eq!(out.attempts.len(), 2, "{:?}", out.attempts);
    assert_eq!(out.attempts[0].channels[0], ChannelId(c01));
    assert!(
        out.attempts[0].result.to_string().contains("unreachable") || out.attempts[0].result.to_string() == "no ack",
        "{:?}",
        out.attempts[0]
    );
    assert_eq!(out.route.hops[0].channel, ChannelId(c02));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_kept_and_errors_name_the_problem() {
    let net = ChainNet::start(2, 0, |_| ProtocolConfig::default()).await;
    let p = EdgeParams { latency_ms: 50, base_fee: 1_000, byte_fee: 0 };
    net.open(0, 1, p).await;
    net.wait_graph(0, 1).await;
    net.serve_echo(1).await;
    let h = &net.nodes[0].node.handle;
    let mut opts = SendOptions::new(net.nodes[1].node.key, "echo");
    opts.max_bound_ms = Some(50);
    let e = h.send(opts.clone()).await.unwrap_err();
    assert!(e.to_string().contains("bound of 50 ms"), "{e}");
    opts.max_bound_ms = None;
    opts.max_cost = Some(999);
    let e = h.send(opts.clone()).await.unwrap_err();
    assert!(e.to_string().contains("costs 1000 yocto, over the cost cap of 999 yocto"), "{e}");
    opts.max_cost = Some(1_000);
    assert!(matches!(h.send(opts).await.unwrap().kind, OutcomeKind::Response(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_has_a_finite_default_cost_cap() {
    let net = ChainNet::start(2, 0, |_| ProtocolConfig::default()).await;
    // An edge dearer than the default cap (0.01 NEAR) by 1 yocto per message.
    let dear = EdgeParams { latency_ms: 20, base_fee: por_node::DEFAULT_MAX_COST + 1, byte_fee: 0 };
    net.open(0, 1, dear).await;
    net.wait_graph(0, 1).await;
    net.serve_echo(1).await;
    let h = &net.nodes[0].node.handle;
    let opts = SendOptions::new(net.nodes[1].node.key, "echo");
    assert_eq!(opts.max_cost, Some(por_node::DEFAULT_MAX_COST));
    let e = h.send(opts.clone()).await.unwrap_err();
    assert!(
        matches!(e, por_node::ClientError::OverCostCap { cheapest, cap, .. }
            if cheapest == por_node::DEFAULT_MAX_COST + 1 && cap == por_node::DEFAULT_MAX_COST),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("over the cost cap of 10000000000000000000000 yocto") && text.contains("raise max_cost"),
        "{text}"
    );
    // Nothing was paid for the refusal.
    assert_eq!(h.status().await.unwrap().channels[0].2, DEPOSIT);
    // A caller who accepts the price says so.
    let out = h.send(SendOptions { max_cost: None, ..opts }).await.unwrap();
    assert!(matches!(out.kind, OutcomeKind::Response(_)), "{out:?}");
    assert_eq!(out.paid, por_node::DEFAULT_MAX_COST + 1);
}

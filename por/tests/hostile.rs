//! Hostile requesters and neighbours against real nodes on the devnet (the
//! real contract wasm): every lie about a route's terms is refused by the
//! honest first hop with its typed reason, before anything is committed; a
//! refused request costs its payer nothing and earns the refuser nothing; a
//! neighbour filling its slots gets `busy` while other neighbours' traffic
//! gets through and nobody is cut; and the nodes follow the contract's
//! late-fee terms.
//!
//! Topology: `0 –– 1 –– 2`, and `3 –– 1`. Node 0 is the liar (it signs
//! whatever route it likes: the node's own `request` does not check routes
//! it originates), 1 an honest relay, 2 an honest server, 3 an honest
//! requester.

mod chain_common;

use std::sync::Arc;
use std::time::Duration;

use chain_common::{ChainNet, DEPOSIT, until};
use por_core::protocol::{ProtocolConfig, Refusal};
use por_core::{ChannelId, EdgeParams, Route};
use por_node::{Reply, RouteLimits, ServiceRequest};

const SERVICE_MS: u64 = 1_500;

fn params() -> EdgeParams {
    EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 2 }
}

/// What node `i` has paid and received on `channel`, from its own books.
async fn books(net: &ChainNet, i: usize, channel: u64) -> (u128, u128) {
    let s = net.nodes[i].node.handle.status().await.unwrap();
    let Some(&(_, _, spendable, received)) = s.channels.iter().find(|c| c.0 == ChannelId(channel)) else {
        panic!("node {i} does not hold channel {channel}: {s:?}")
    };
    (DEPOSIT + received - spendable, received)
}

/// The chain's route from node `from` to node 2.
fn route(net: &ChainNet, from: usize) -> Route {
    let h = &net.nodes[from].node.handle;
    h.routes_to(&net.nodes[2].node.key, 4, 64, &RouteLimits::default(), 1).unwrap().remove(0).route
}

/// Sends `route` from node `from` and waits for its end: `Ok(true)` for a
/// response, `Err(code)` for a refusal by the first hop.
async fn outcome(net: &ChainNet, from: usize, route: Route, max_response_bytes: u64) -> Result<bool, Option<Refusal>> {
    let h = &net.nodes[from].node.handle;
    let (id, mut rx) = h.request(route, "echo", b"ping".to_vec(), max_response_bytes).await.expect("sent");
    let mut answered = false;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(d) = rx.recv().await {
            if matches!(d, por_core::protocol::Delivery::Response { .. }) {
                answered = true;
                return;
            }
        }
    })
    .await;
    if answered {
        return Ok(true);
    }
    Err(h.refusal(id).await.unwrap().expect("refused, with a reason").code)
}

async fn network(protocol: impl Fn(usize) -> ProtocolConfig) -> (ChainNet, [u64; 3]) {
    let net = ChainNet::start(4, SERVICE_MS, protocol).await;
    let c01 = net.open(0, 1, params()).await;
    let c12 = net.open(1, 2, params()).await;
    let c31 = net.open(3, 1, params()).await;
    for i in 0..4 {
        net.wait_graph(i, 3).await;
    }
    net.serve_echo(2).await;
    (net, [c01, c12, c31])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lies_about_terms_are_refused_and_cost_nothing() {
    // The liar's own node does not keep to any limits.
    let (net, [c01, c12, _]) = network(|i| {
        let mut c = ProtocolConfig::default();
        if i == 0 {
            c.limits.max_bytes_held = u64::MAX;
            c.limits.max_value_in_flight = u128::MAX;
        }
        c
    })
    .await;
    let honest = route(&net, 0);
    type Lie = fn(&mut Route, &mut u64);
    let lies: [(&str, Lie, Refusal); 7] = [
        (
            "free hop",
            |r, _| r.hops[0].params = EdgeParams { base_fee: 0, byte_fee: 0, ..r.hops[0].params },
            Refusal::TermsMismatch,
        ),
        ("free next hop", |r, _| r.hops[1].params.base_fee = 1, Refusal::TermsMismatch),
        ("huge latency", |r, _| r.hops[1].params.latency_ms = 1_000_000_000, Refusal::TermsMismatch),
        ("service time", |r, _| r.service_ms = 1, Refusal::ServiceMismatch),
        ("allowance", |_, m| *m = 1_000_000_000_000, Refusal::AllowanceTooLarge),
        (
            "loop",
            |r, _| {
                let mut back = r.hops[0].clone();
                back.node = r.hops[1].node;
                r.hops.insert(1, back);
            },
            Refusal::RouteLoop,
        ),
        ("too long", |r, _| r.hops.extend(std::iter::repeat_n(r.hops[1].clone(), 20)), Refusal::RouteTooLong),
    ];
    let mut most = 0;
    for (what, lie, want) in lies {
        let mut r = honest.clone();
        let mut allowance = 64;
        lie(&mut r, &mut allowance);
        // What the liar's own node pays for it (its own quote of its lie).
        let due = r.quote(4, allowance).map(|q| q.payments[0]).unwrap_or(0);
        most = most.max(due);
        assert_eq!(outcome(&net, 0, r, allowance).await, Err(Some(want)), "{what}");
        // Both books agree, the refuser holds at most the largest single
        // payment (as credit), and nothing went further.
        let (paid0, _) = books(&net, 0, c01).await;
        until(Duration::from_secs(5), "the relay holds the refused voucher", || async {
            books(&net, 1, c01).await.1 == paid0
        })
        .await;
        assert_eq!(paid0, most, "{what}: each refused payment is credit the next one spends");
        assert_eq!(books(&net, 1, c12).await, (0, 0), "{what}: the relay paid nobody");
        assert_eq!(books(&net, 2, c12).await, (0, 0), "{what}: the server got nothing");
    }
    // The liar's honest request is paid from its credit first.
    let q = honest.quote(4, 64).unwrap();
    assert_eq!(outcome(&net, 0, honest, 64).await, Ok(true));
    until(Duration::from_secs(5), "the server holds its voucher", || async {
        books(&net, 2, c12).await.1 == q.payments[1]
    })
    .await;
    assert_eq!(books(&net, 0, c01).await.0, most.max(q.payments[0]), "nothing paid twice");
    assert_eq!(books(&net, 1, c12).await.0, q.payments[1], "the relay paid the server exactly its fee");
    for (a, b) in [(0, 1), (1, 2), (3, 1)] {
        assert!(open_on_chain(&net, a, b).await, "nobody cut {a}–{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neighbour_filling_its_slots_is_busy_and_others_get_through() {
    let (net, [c01, c12, c31]) = network(|i| {
        let mut c = ProtocolConfig::default();
        if i == 1 {
            c.limits.max_in_flight = 2;
        }
        c
    })
    .await;
    // The server takes a second per request: requests stay in flight.
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        Reply::ok(r.body)
    });
    net.nodes[2].node.handle.serve("echo", slow).await.unwrap();
    let flood = route(&net, 0);
    let q = flood.quote(4, 64).unwrap();
    let h0 = &net.nodes[0].node.handle;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(h0.request(flood.clone(), "echo", b"ping".to_vec(), 64).await.unwrap());
    }
    // Wait until both are acknowledged (in flight at the relay).
    for (_, rx) in &mut held {
        let d = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert!(matches!(d, por_core::protocol::Delivery::Acked { .. }), "{d:?}");
    }
    assert_eq!(outcome(&net, 0, flood, 64).await, Err(Some(Refusal::Busy)));
    // Node 3's request to the relay itself is served…
    net.serve_echo(1).await;
    let h3 = &net.nodes[3].node.handle;
    let to_relay = h3.routes_to(&net.nodes[1].node.key, 4, 64, &RouteLimits::default(), 1).unwrap().remove(0).route;
    let q_relay = to_relay.quote(4, 64).unwrap();
    assert_eq!(outcome(&net, 3, to_relay, 64).await, Ok(true));
    // …and one that would go on over 1–2, which the flood fills, is refused
    // busy by the relay before it acknowledges anything (it keeps to its own
    // limits towards 2, so 2 never answers busy to what 1 acknowledged),
    // then served once the flood's requests are answered.
    assert_eq!(outcome(&net, 3, route(&net, 3), 64).await, Err(Some(Refusal::Busy)));
    for (_, rx) in &mut held {
        while let Some(d) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap() {
            if matches!(d, por_core::protocol::Delivery::Response { .. }) {
                break;
            }
        }
    }
    assert_eq!(outcome(&net, 3, route(&net, 3), 64).await, Ok(true));
    for (a, b) in [(0, 1), (1, 2), (3, 1)] {
        assert!(open_on_chain(&net, a, b).await, "nobody cut {a}–{b}");
    }
    // The books, exactly: node 0 paid for its two answered requests, and the
    // one refused `busy` is credit the relay holds for it (both books agree);
    // node 3 paid its request to the relay and one request onwards (the one
    // refused `busy` left credit that the answered one spent); the relay
    // paid the server for the three requests it carried on.
    let q3 = route(&net, 3).quote(4, 64).unwrap();
    assert_eq!(q3.payments, q.payments, "same edges, same prices");
    until(Duration::from_secs(5), "every voucher is held", || async {
        books(&net, 2, c12).await.1 == 3 * q.payments[1]
    })
    .await;
    assert_eq!(books(&net, 0, c01).await.0, 3 * q.payments[0]);
    assert_eq!((credit(&net, 0, c01).await, credit(&net, 1, c01).await), ((0, q.payments[0]), (q.payments[0], 0)));
    assert_eq!(books(&net, 1, c01).await.1, 3 * q.payments[0]);
    assert_eq!(books(&net, 3, c31).await.0, q_relay.payments[0] + q.payments[0]);
    assert_eq!((credit(&net, 3, c31).await, credit(&net, 1, c31).await), ((0, 0), (0, 0)));
    assert_eq!(books(&net, 1, c12).await.0, 3 * q.payments[1]);
}

/// The first outcome of a request is its acknowledgement, within 5 s.
async fn acked(rx: &mut tokio::sync::mpsc::Receiver<por_core::protocol::Delivery>) {
    let d = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert!(matches!(d, por_core::protocol::Delivery::Acked { .. }), "{d:?}");
}

/// The request's severance notice, within `within` (else panics with
/// `expected`).
async fn next_notice(
    rx: &mut tokio::sync::mpsc::Receiver<por_core::protocol::Delivery>,
    within: Duration,
    expected: &str,
) -> por_core::SeveranceNotice {
    tokio::time::timeout(within, async {
        loop {
            match rx.recv().await {
                Some(por_core::protocol::Delivery::Notice { notice, .. }) => return notice,
                Some(_) => continue,
                None => panic!("the outcome stream closed without a notice"),
            }
        }
    })
    .await
    .expect(expected)
}

/// Whether the channel between nodes `a` and `b` is still open on chain.
async fn open_on_chain(net: &ChainNet, a: usize, b: usize) -> bool {
    let s = net.nodes[a].node.handle.status().await.unwrap();
    let peer = net.nodes[b].node.key;
    let Some(c) = s.channels.iter().find(|c| c.1 == peer) else { return false };
    net.view.channel(c.0.0).await.unwrap().is_some_and(|v| v.state == por_node::chain::ChannelState::Open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_follow_the_contracts_late_fee_terms() {
    let (net, _) = network(|_| ProtocolConfig::default()).await;
    let owner = net.owner();
    let mut config = net.view.config().await.unwrap();
    config.late_fee_per_sec *= 3;
    config.max_late_ms /= 2;
    let before = net.nodes[0].node.handle.status().await.unwrap().late_terms;
    owner.update_config(&config).await.unwrap();
    // Announced, not in force: the contract shows it pending (2 s on the
    // devnet) and the nodes keep the terms in force until it lands.
    let pending = net.view.pending_config().await.unwrap().expect("the change is pending");
    assert_eq!(
        (pending.config.late_fee_per_sec, pending.config.max_late_ms),
        (config.late_fee_per_sec, config.max_late_ms)
    );
    assert_ne!(net.view.config().await.unwrap().max_late_ms, config.max_late_ms, "not in force before its time");
    assert_eq!(net.nodes[0].node.handle.status().await.unwrap().late_terms, before);
    for i in 0..4 {
        let h = &net.nodes[i].node.handle;
        until(Duration::from_secs(10), &format!("node {i} prices lateness as the contract now does"), || async {
            h.status().await.unwrap().late_terms == (config.late_fee_per_sec, config.max_late_ms)
        })
        .await;
    }
}

/// A severance's notice leaves when the transaction is signed, not at
/// finality: with finality four seconds away, the requester has the notice
/// long before the chain has the cut, and, once the cut lands, it cuts
/// nobody for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_does_not_wait_for_a_slow_sever() {
    let server = por_devnet::rpc::ServerConfig { finality_delay: Duration::from_secs(4), ..Default::default() };
    let net = ChainNet::start_with(3, 10_000, server, |_| ProtocolConfig::default()).await;
    let c01 = net.open(0, 1, params()).await;
    let c12 = net.open(1, 2, params()).await;
    for i in 0..3 {
        net.wait_graph(i, 2).await;
    }
    // The server takes its time: the request is in flight when 1 cuts 2.
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        Reply::ok(r.body)
    });
    net.nodes[2].node.handle.serve("echo", slow).await.unwrap();
    let h0 = &net.nodes[0].node.handle;
    let r = route(&net, 0);
    let q = r.quote(4, 64).unwrap();
    let (_, mut rx) = h0.request(r, "echo", b"ping".to_vec(), 64).await.unwrap();
    acked(&mut rx).await;
    let cut = tokio::time::Instant::now();
    assert!(net.nodes[1].node.handle.sever(ChannelId(c12)).await.unwrap());
    let notice = next_notice(&mut rx, Duration::from_secs(3), "the notice came before the sever was final").await;
    assert_eq!(notice.channel, ChannelId(c12));
    assert!(cut.elapsed() < Duration::from_secs(4), "before finality: {:?}", cut.elapsed());
    // The cut lands; the requester's edge to the honest relay stays.
    until(Duration::from_secs(20), "the chain has the cut", || async {
        net.view.channel(c12).await.unwrap().is_some_and(|c| c.severer.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = net.view.channel(c01).await.unwrap().unwrap();
    assert_eq!(open.state, por_node::chain::ChannelState::Open, "nobody cut 0–1");
    // The books: 0 paid the route's price and, the notice coming well
    // within its bound, no late fee either way; 1 holds exactly that and
    // paid 2 its share, which 2's answer to the severance put on chain.
    assert_eq!(books(&net, 0, c01).await, (q.payments[0], 0));
    assert_eq!(books(&net, 1, c01).await.1, q.payments[0]);
    until(Duration::from_secs(10), "2's best voucher is on chain", || async {
        let c = net.view.channel(c12).await.unwrap().unwrap();
        c.paid_by_a == q.payments[1]
    })
    .await;
    assert_eq!(net.view.channel(c12).await.unwrap().unwrap().paid_by_b, 0);
}

/// Credit `(held for the peer, the peer holds for us)` of node `i` on
/// `channel`, from its store.
async fn credit(net: &ChainNet, i: usize, channel: u64) -> (u128, u128) {
    let b = net.nodes[i].node.handle.channel_backup().await.unwrap().unwrap();
    b.channels.iter().find(|c| c.setup.channel == ChannelId(channel)).and_then(|c| c.credit).unwrap_or((0, 0))
}

/// A node that refuses every request, as the first hop (`refuser = 1`) or
/// below a relay that already acknowledged (`refuser = 2`), earns nothing:
/// requester 3 sends five requests, each refused with `busy`, and pays for
/// one of them in all, as credit on both books of every edge; nobody is cut
/// and no late fee is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refusing_everything_gains_nothing_and_cuts_nobody() {
    for refuser in [1, 2] {
        let (net, [c01, c12, c31]) = network(|i| {
            let mut c = ProtocolConfig::default();
            c.faults.refuse_requests = i == refuser;
            c
        })
        .await;
        let r = route(&net, 3);
        let q = r.quote(4, 64).unwrap();
        let h = &net.nodes[3].node.handle;
        for n in 0..5 {
            let (id, mut rx) = h.request(r.clone(), "echo", b"ping".to_vec(), 64).await.expect("sent");
            let mut below = None;
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(d) = rx.recv().await {
                    if let por_core::protocol::Delivery::Refused { refused, .. } = d {
                        below = Some(refused);
                        return;
                    }
                    assert!(!matches!(d, por_core::protocol::Delivery::Response { .. }), "answered");
                }
            })
            .await;
            match refuser {
                1 => {
                    let why = h.refusal(id).await.unwrap().expect("refused by the first hop");
                    assert_eq!(why.code, Some(Refusal::Busy), "request {n}");
                }
                _ => {
                    let r = below.expect("a refusal from below");
                    assert_eq!((r.reason, r.channel), (Refusal::Busy, ChannelId(c12)), "request {n}");
                }
            }
            // The requester paid the first request's price once; each later
            // one went with the voucher the first hop already held.
            until(Duration::from_secs(5), "both books of 3–1 hold the credit", || async {
                credit(&net, 3, c31).await == (0, q.payments[0]) && credit(&net, 1, c31).await == (q.payments[0], 0)
            })
            .await;
            assert_eq!(books(&net, 3, c31).await.0, q.payments[0], "request {n}: paid once in all");
        }
        if refuser == 2 {
            until(Duration::from_secs(5), "both books of 1–2 hold the credit", || async {
                credit(&net, 1, c12).await == (0, q.payments[1]) && credit(&net, 2, c12).await == (q.payments[1], 0)
            })
            .await;
            assert_eq!(books(&net, 1, c12).await.0, q.payments[1], "the relay paid once in all");
        } else {
            assert_eq!(books(&net, 1, c12).await, (0, 0), "nothing went past the refuser");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        for c in [c01, c12, c31] {
            let v = net.view.channel(c).await.unwrap().expect("channel on chain");
            assert_eq!(v.state, por_node::chain::ChannelState::Open, "refuser {refuser}: channel {c} cut");
        }
        for i in 0..4 {
            let s = net.nodes[i].node.handle.status().await.unwrap();
            assert_eq!(s.in_flight, 0, "refuser {refuser}: node {i} still tracks a request");
        }
    }
}

/// A node severs while the contract is busy with another severance's
/// partition check, which refuses every `sever` until it ends: the notice
/// leaves at once (the transaction was signed), the agent sends the
/// severance again at each poll, and it lands once the check is over. The
/// requester's notice is confirmed by the channel's state on chain, not by
/// the first transaction's hash, so nobody honest is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sever_refused_during_a_partition_check_is_sent_again_and_lands() {
    let (mut net, [c01, c12, c31]) = network(|_| ProtocolConfig::default()).await;
    // Every agent leaves partition checks alone, and each check call may
    // read one record: a check stays pending until the test drives it.
    for i in 0..4 {
        let cfg = por_node::agent::AgentConfig { partition_calls: 0, ..chain_common::agent_config() };
        net.set_agent(i, cfg).await;
    }
    let owner = net.owner();
    let mut config = net.view.config().await.unwrap();
    config.partition_step_budget = 1;
    owner.update_config(&config).await.unwrap();
    // The change takes effect after the contract's config_delay_ms.
    until(Duration::from_secs(20), "the step budget is 1", || async {
        net.view.config().await.unwrap().partition_step_budget == 1
    })
    .await;
    let slow = Arc::new(|r: ServiceRequest| async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        Reply::ok(r.body)
    });
    net.nodes[2].node.handle.serve("echo", slow).await.unwrap();
    let r = route(&net, 0);
    let q = r.quote(4, 64).unwrap();
    let (_, mut rx) = net.nodes[0].node.handle.request(r, "echo", b"ping".to_vec(), 64).await.unwrap();
    acked(&mut rx).await;
    // Node 3 cuts its channel to 1 by hand: a check starts and stays pending.
    let s = net.nodes[3].c.sever(c31, None).await.unwrap();
    assert!(s.check.is_pending(), "{:?}", s.check);
    // Node 1 cuts 2 while the check is pending: its notice reaches 0 at once…
    assert!(net.nodes[1].node.handle.sever(ChannelId(c12)).await.unwrap());
    let notice = next_notice(&mut rx, Duration::from_secs(5), "the notice left although the sever was refused").await;
    assert_eq!(notice.channel, ChannelId(c12));
    // …while the chain still has the channel open (the sever was refused).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(net.view.partition_check().await.unwrap().is_some(), "the check is still pending");
    let still = net.view.channel(c12).await.unwrap().unwrap();
    assert_eq!(still.state, por_node::chain::ChannelState::Open, "the first sever was refused");
    // The test drives the checks to their end (the split it recorded may be
    // settled meanwhile, another check); the agent's next attempt lands.
    until(Duration::from_secs(30), "node 1's sever lands", || async {
        net.nodes[3].c.finish_partition_check(10_000).await.unwrap();
        net.view.channel(c12).await.unwrap().is_some_and(|c| c.severer.is_some())
    })
    .await;
    let ch = net.view.channel(c12).await.unwrap().unwrap();
    assert_eq!(ch.severer.as_ref(), Some(&net.nodes[1].account));
    // Node 0 confirms the notice by the channel's state and cuts nobody;
    // its books: the route's price, no late fee.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(open_on_chain(&net, 0, 1).await, "nobody cut 0–1");
    assert_eq!(books(&net, 0, c01).await, (q.payments[0], 0));
}

/// The chain agent reports its lag and the graph version it follows
/// (`por_chain_agent_lag_seconds`, `por_chain_agent_graph_version`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_agent_reports_its_lag() {
    let (mut net, _) = network(|_| ProtocolConfig::default()).await;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = por_node::metrics::ChainMetrics::new(&mut registry);
    let n = &mut net.nodes[3];
    n.agent.abort();
    let c = n.c.clone().with_metrics(metrics.clone());
    n.agent = por_node::agent::spawn(c, n.account.clone(), n.node.handle.clone(), chain_common::agent_config())
        .await
        .unwrap();
    let version = net.view.graph_version().await.unwrap();
    until(Duration::from_secs(10), "the agent reports the graph it follows", || async {
        metrics.agent_graph_version.get() == version as i64
    })
    .await;
    let lag = metrics.agent_lag.get();
    assert!((0.0..2.0).contains(&lag), "a poll completed within the last 2 s: {lag}");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("por_chain_agent_lag_seconds") && text.contains("por_chain_agent_graph_version"), "{text}");
}

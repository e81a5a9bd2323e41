//! The PoR contract's whole lifecycle, driven through the node's chain client
//! against a devnet on loopback running the real `artifacts/por_contract.wasm`:
//! register, open, confirm, a refused call that changes nothing, cooperative
//! close, sever, partition, challenge, finalize, withdraw — and the graph
//! follower tracking it all.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use near_primitives::types::AccountId;
use por_core::{ChannelId, EdgeParams, NodeSigner, Outcome, SignedVoucher, Signer, Voucher};
use por_devnet::genesis::{self, CONTRACT_ACCOUNT, GenesisOptions, KeyFile, NEAR};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_node::chain::{ChainClient, ChainError, ChannelState, GraphFollower, NearRpcChain, NodeStatus, PorContract};

const STAKE: u128 = 5 * NEAR;
const FEE: u128 = NEAR / 100; // node_storage_fee and channel_storage_fee of the devnet config

fn wasm() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts/por_contract.wasm");
    assert!(p.exists(), "{} is missing: run `make contract` (make test does it first)", p.display());
    p
}

struct Node {
    account: AccountId,
    key: NodeSigner,
    c: PorContract<NearRpcChain>,
}

fn voucher(payer: &Node, channel: u64, cumulative: u128) -> SignedVoucher {
    Voucher { contract: CONTRACT_ACCOUNT.into(), channel: ChannelId(channel), payer: payer.key.public(), cumulative }
        .sign(&payer.key)
}

fn failed_with(r: Result<impl std::fmt::Debug, ChainError>, needle: &str) {
    match r {
        Err(ChainError::TxFailed { message, .. }) => assert!(message.contains(needle), "message: {message}"),
        other => panic!("expected a refusal mentioning {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn contract_lifecycle_through_the_chain_client() {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("por-lifecycle-{}-{nanos}", std::process::id()));
    let opened =
        genesis::open_or_create(&dir, &GenesisOptions { wasm: wasm(), accounts: 4, ..GenesisOptions::default() })
            .unwrap();
    let srv = DevnetServer::start(
        opened.chain,
        ServerConfig { produce_blocks: false, allow_time_travel: true, ..ServerConfig::default() },
    )
    .await
    .unwrap();
    let contract_id: AccountId = CONTRACT_ACCOUNT.parse().unwrap();
    let nodes: Vec<Node> = (0..4u8)
        .map(|i| {
            let kf = KeyFile::read(&dir.join(format!("keys/node{i}.devnet.json"))).unwrap();
            let chain = NearRpcChain::with_signer(&srv.url(), kf.account_id.clone(), kf.private_key);
            Node {
                account: kf.account_id,
                key: NodeSigner::from_seed([i + 1; 32]),
                c: PorContract::new(chain, contract_id.clone()),
            }
        })
        .collect();
    let c0 = &nodes[0].c;
    assert_eq!(c0.config().await.unwrap().challenge_period_ms, 10_000);

    // Register.
    for (i, n) in nodes.iter().enumerate() {
        let idx = n.c.register_node(&n.key, 10, STAKE + FEE).await.unwrap();
        assert_eq!(idx as usize, i);
    }
    let mut follower = GraphFollower::new();
    assert!(follower.refresh(c0).await.unwrap());
    assert_eq!(follower.graph().node_count(), 4);
    assert_eq!(follower.graph().node(3).unwrap().stake, STAKE);

    // Open and confirm a line 0-1-2-3, plus a second 0-1 channel to close.
    let params = EdgeParams { latency_ms: 50, base_fee: 1000, byte_fee: 1 };
    let open = |a: usize, b: usize| {
        let (na, nb) = (&nodes[a], &nodes[b]);
        async move {
            let id = na.c.open_channel(&nb.account, params, 2 * NEAR + FEE).await.unwrap();
            assert_eq!(na.c.channel(id).await.unwrap().unwrap().state, ChannelState::Proposed);
            nb.c.confirm_channel(id, NEAR).await.unwrap();
            id
        }
    };
    let ch01 = open(0, 1).await;
    let ch12 = open(1, 2).await;
    let ch23 = open(2, 3).await;
    let ch01b = open(0, 1).await;
    assert!(follower.refresh(c0).await.unwrap());
    assert_eq!(follower.graph().edge_count(), 4);
    assert_eq!(follower.graph().edge(ChannelId(ch12)).unwrap().params, params);

    // A refused call changes nothing.
    let (version, totals) = (c0.graph_version().await.unwrap(), c0.totals().await.unwrap());
    failed_with(nodes[3].c.confirm_channel(ch01, NEAR).await, "");
    failed_with(nodes[3].c.withdraw(NEAR).await, "withdraw");
    assert_eq!(c0.graph_version().await.unwrap(), version);
    assert_eq!(c0.totals().await.unwrap(), totals);
    assert!(!follower.refresh(c0).await.unwrap(), "nothing moved");

    // Cooperative close of the second 0-1 channel: 0 paid 1 half a NEAR.
    let paid = NEAR / 2;
    nodes[1].c.propose_close(ch01b, Some(&voucher(&nodes[0], ch01b, paid))).await.unwrap();
    nodes[0].c.confirm_close(ch01b, None).await.unwrap();
    let closed = c0.channel(ch01b).await.unwrap().unwrap();
    assert_eq!(closed.state, ChannelState::Closed);
    assert_eq!(closed.paid_by_a, paid);
    assert_eq!(c0.balances(&nodes[0].account).await.unwrap().withdrawable, 2 * NEAR - paid);
    assert_eq!(c0.balances(&nodes[1].account).await.unwrap().withdrawable, NEAR + paid);

    // Sever 2-3: node 3 is cut off and, with less stake, on the small side
    // of a split, which is recorded and settled only after the reconnection
    // window (15 s on the devnet).
    let severed = nodes[2].c.sever(ch23, Some(&voucher(&nodes[3], ch23, NEAR / 10))).await.unwrap();
    assert_ne!(severed.tx_hash, Default::default(), "sever reports its transaction for the notices");
    let last = c0.finish_partition_check(50).await.unwrap().unwrap_or(severed.check);
    assert!(!last.is_pending(), "{last:?}");
    // Each side paid half the 0.1 NEAR severance penalty out of its stake.
    let half_penalty = NEAR / 20;
    assert_eq!(last.outcome, Some(Outcome::Partitioned { nodes: vec![3], stake: STAKE - half_penalty }));
    let n3 = c0.node(&nodes[3].account).await.unwrap().unwrap();
    assert_eq!(n3.status, NodeStatus::Active, "not slashed before the window ends");
    assert_eq!(n3.stake, STAKE - half_penalty);
    failed_with(nodes[0].c.settle(ch23).await, "");
    let severed = c0.channel(ch23).await.unwrap().unwrap();
    assert_eq!(severed.state, ChannelState::Severed);
    assert!(follower.refresh(c0).await.unwrap());
    assert!(follower.graph().edge(ChannelId(ch23)).is_none(), "a severed edge leaves the graph at once");

    // Challenge: 3 answers with the best voucher 2 signed; finalize waits for the window.
    nodes[3].c.submit_voucher(ch23, &voucher(&nodes[2], ch23, NEAR / 5)).await.unwrap();
    assert_eq!(c0.channel(ch23).await.unwrap().unwrap().paid_by_a, NEAR / 5);
    failed_with(nodes[0].c.finalize(ch23).await, "");
    c0.chain().advance_time(10_001).await.unwrap();
    nodes[0].c.finalize(ch23).await.unwrap();
    assert_eq!(c0.channel(ch23).await.unwrap().unwrap().state, ChannelState::Closed);

    // The window ends with node 3 still cut off: anyone settles the split,
    // and node 3 is partitioned and slashed.
    c0.chain().advance_time(5_000).await.unwrap();
    let st = nodes[0].c.settle(ch23).await.unwrap();
    let last = c0.finish_partition_check(50).await.unwrap().unwrap_or(st);
    assert!(!last.is_pending(), "{last:?}");
    assert_eq!(last.kind, "settle");
    assert!(matches!(last.outcome, Some(Outcome::Partitioned { ref nodes, .. }) if nodes == &vec![3]), "{last:?}");
    let n3 = c0.node(&nodes[3].account).await.unwrap().unwrap();
    assert_eq!(n3.status, NodeStatus::Partitioned);
    assert!(n3.stake < STAKE - half_penalty, "partitioned stake is slashed");

    // Withdraw: the contract pays out with a transfer receipt.
    let have = c0.balances(&nodes[1].account).await.unwrap().withdrawable;
    let before = c0.chain().balance(&nodes[1].account).await.unwrap();
    nodes[1].c.withdraw(have).await.unwrap();
    let after = c0.chain().balance(&nodes[1].account).await.unwrap();
    assert!(after > before + have - NEAR / 100, "got {} of {have} (less gas)", after - before);
    assert_eq!(c0.balances(&nodes[1].account).await.unwrap().withdrawable, 0);

    // The follower ends with the open edges 0-1 and 1-2.
    follower.refresh(c0).await.unwrap();
    let mut edges: Vec<u64> = follower.graph().edges().map(|e| e.channel.0).collect();
    edges.sort();
    assert_eq!(edges, vec![ch01, ch12]);

    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

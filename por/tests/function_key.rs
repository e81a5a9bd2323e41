//! A node whose agent signs with a NEAR function-call access key, end to end
//! on a devnet running the real contract: `por init --function-key` creates
//! the key and adds it on chain (the contract's agent methods, no deposit);
//! `por node run` with `[chain].function_key_file` signs its agent's sever
//! with it (the full-access key's nonce does not move), opens a channel with
//! the full-access key (a deposit), and with only the function-call key a
//! call with a deposit, or a method the key does not list, is refused before
//! anything is sent, naming the missing full-access key.

mod chain_common;

use std::path::PathBuf;
use std::time::Duration;

use chain_common::{until, wasm};

use near_crypto::PublicKey;
use near_primitives::types::AccountId;
use near_primitives::views::AccessKeyPermissionView;
use por::config::FileConfig;
use por::init::{FUNCTION_KEY_FILE, InitOptions, init};
use por::run::{chain_client, launch};
use por_core::{ChannelId, EdgeParams};
use por_devnet::genesis::{self, CONTRACT_ACCOUNT, GenesisOptions, KeyFile, NEAR};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_node::chain::{AGENT_METHODS, ChainClient, ChainError, ChannelState, NearRpcChain, read_key_file};

const FEE: u128 = NEAR / 100;

/// The nonce of `account`'s access key `key`.
async fn nonce(view: &NearRpcChain, account: &AccountId, key: &PublicKey) -> u64 {
    view.access_key_view(account, key).await.unwrap().expect("the key is on chain").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_signs_with_the_function_call_key_and_deposits_need_the_full_key() {
    let chain_dir = tempfile::tempdir().unwrap();
    let opened = genesis::open_or_create(
        chain_dir.path(),
        &GenesisOptions { wasm: wasm(), accounts: 2, ..GenesisOptions::default() },
    )
    .unwrap();
    let srv = DevnetServer::start(opened.chain, ServerConfig { allow_time_travel: true, ..ServerConfig::default() })
        .await
        .unwrap();
    let view = NearRpcChain::new(&srv.url());

    // Two nodes from `por init`; node 0 with a function-call key.
    let mut dirs = Vec::new();
    let mut cfgs = Vec::new();
    let mut accounts = Vec::new();
    for i in 0..2 {
        let data = tempfile::tempdir().unwrap();
        let key_file = chain_dir.path().join(format!("keys/node{i}.devnet.json"));
        let account = KeyFile::read(&key_file).unwrap().account_id;
        let mut o = InitOptions::new(data.path());
        o.rpc = vec![srv.url()];
        o.contract = Some(CONTRACT_ACCOUNT.into());
        o.account = Some((account.to_string(), key_file));
        o.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        o.api = "127.0.0.1:0".into();
        o.accept_deposit = Some(NEAR);
        o.function_key = i == 0;
        let r = init(&o, [i as u8 + 1; 32]).await.unwrap();
        assert!(r.registered_now);
        assert_eq!(r.function_key.as_ref().map(|(_, added)| *added), (i == 0).then_some(true));
        let mut cfg = FileConfig::parse(&std::fs::read_to_string(&r.config).unwrap()).unwrap();
        cfg.chain.poll_ms = 150;
        cfgs.push(cfg);
        dirs.push(data);
        accounts.push(account);
    }
    let function_file = dirs[0].path().join(FUNCTION_KEY_FILE);
    assert_eq!(cfgs[0].chain.function_key_file, Some(PathBuf::from(FUNCTION_KEY_FILE)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&function_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let (_, function_secret) = read_key_file(&function_file).unwrap();
    let function_key = function_secret.public_key();
    let full_key = read_key_file(&dirs[0].path().join("account.json")).unwrap().1.public_key();
    let (_, permission) = view.access_key_view(&accounts[0], &function_key).await.unwrap().unwrap();
    match permission {
        AccessKeyPermissionView::FunctionCall { receiver_id, method_names, allowance } => {
            assert_eq!(receiver_id, CONTRACT_ACCOUNT);
            assert_eq!(method_names, AGENT_METHODS.iter().map(|m| m.to_string()).collect::<Vec<_>>());
            assert!(allowance.is_some_and(|a| a.as_yoctonear() > 0));
        }
        other => panic!("not a function-call key: {other:?}"),
    }
    // Running init again keeps the key and does not add it twice.
    let mut again = InitOptions::new(dirs[0].path());
    again.rpc = vec![srv.url()];
    again.account = Some((accounts[0].to_string(), dirs[0].path().join("account.json")));
    again.function_key = true;
    let r = init(&again, [1; 32]).await.unwrap();
    assert_eq!(r.function_key, Some((function_key.to_string(), false)));

    let nodes = [launch(&cfgs[0], [1; 32]).await.unwrap(), launch(&cfgs[1], [2; 32]).await.unwrap()];

    // Opening a channel carries a deposit: the full-access key signs it.
    let c0 = chain_client(&cfgs[0]).unwrap();
    let (full_before, function_before) =
        (nonce(&view, &accounts[0], &full_key).await, nonce(&view, &accounts[0], &function_key).await);
    let params = EdgeParams { latency_ms: 20, base_fee: 1_000, byte_fee: 0 };
    let id = c0.open_channel(&accounts[1], params, NEAR + FEE).await.unwrap();
    assert!(nonce(&view, &accounts[0], &full_key).await > full_before);
    assert_eq!(nonce(&view, &accounts[0], &function_key).await, function_before);
    until(Duration::from_secs(20), "node 0 tracks the confirmed channel", || async {
        let open = view_channel_open(&c0, id).await;
        open && nodes[0].node.handle.status().await.unwrap().channels.iter().any(|c| c.0 == ChannelId(id))
    })
    .await;

    // The agent's sever carries no deposit: the function-call key signs it.
    let full_before = nonce(&view, &accounts[0], &full_key).await;
    let function_before = nonce(&view, &accounts[0], &function_key).await;
    assert!(nodes[0].node.handle.sever(ChannelId(id)).await.unwrap());
    until(Duration::from_secs(20), "the sever is on chain", || async {
        c0.channel(id).await.unwrap().is_some_and(|c| c.state != ChannelState::Open)
    })
    .await;
    assert_eq!(c0.channel(id).await.unwrap().unwrap().severer.as_ref(), Some(&accounts[0]));
    assert!(nonce(&view, &accounts[0], &function_key).await > function_before, "signed with the function-call key");
    assert_eq!(nonce(&view, &accounts[0], &full_key).await, full_before, "the full-access key did not sign");

    // Only the function-call key on this machine: the full key's file is gone.
    for n in &nodes {
        if let Some(a) = &n.agent {
            a.abort();
        }
    }
    std::fs::rename(dirs[0].path().join("account.json"), dirs[0].path().join("offline.json")).unwrap();
    let only = chain_client(&cfgs[0]).unwrap();
    let e = only.open_channel(&accounts[1], params, NEAR + FEE).await.unwrap_err();
    assert!(matches!(e, ChainError::NeedsFullAccessKey { .. }), "{e:?}");
    assert!(e.to_string().contains("open_channel") && e.to_string().contains("full-access key"), "{e}");
    let e = only.withdraw(1).await.unwrap_err();
    assert!(matches!(e, ChainError::NeedsFullAccessKey { .. }), "a method the key does not list: {e:?}");
    assert_eq!(nonce(&view, &accounts[0], &full_key).await, full_before, "nothing was sent");
    // What it may do, it does: finalize the severance after the window.
    let window = c0.config().await.unwrap().challenge_period_ms;
    view.advance_time(window + 1_000).await.unwrap();
    let function_before = nonce(&view, &accounts[0], &function_key).await;
    only.finalize(id).await.unwrap();
    assert_eq!(c0.channel(id).await.unwrap().unwrap().state, ChannelState::Closed);
    assert!(nonce(&view, &accounts[0], &function_key).await > function_before);
    assert_eq!(nonce(&view, &accounts[0], &full_key).await, full_before);

    for n in nodes {
        n.node.handle.shutdown().await;
    }
}

async fn view_channel_open(c: &por_node::api::ChainCtl, id: u64) -> bool {
    c.channel(id).await.unwrap().is_some_and(|c| c.state == ChannelState::Open)
}

//! Time of a PoR contract call through the devnet's JSON-RPC, end to end:
//! sign, `send_tx` over loopback HTTP, verify, execute the real wasm in
//! nearcore's VM, answer with the final outcome. Also a view (`query`
//! `call_function`). Prints median, p90 and mean over N calls.
//!
//! `cargo bench -p por-devnet --bench rpc_call` (needs `make contract`);
//! `N=500` to change the count.

use std::time::{Duration, Instant};

use near_crypto::InMemorySigner;
use near_jsonrpc_client::{JsonRpcClient, methods};
use near_primitives::transaction::{Action, FunctionCallAction, SignedTransaction, Transaction, TransactionV0};
use near_primitives::types::{AccountId, Balance, BlockReference, Finality, FunctionArgs, Gas};
use near_primitives::views::{FinalExecutionStatus, QueryRequest, TxExecutionStatus};
use por_core::{NodeSigner, Registration, Signer};
use por_devnet::genesis::{self, GenesisOptions, KeyFile, NEAR};
use por_devnet::rpc::{DevnetServer, ServerConfig};

fn stats(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1e3;
    let mean = d.iter().map(|x| ms(*x)).sum::<f64>() / d.len() as f64;
    println!(
        "{name}: n={} median {:.3} ms, p90 {:.3} ms, mean {:.3} ms, min {:.3} ms",
        d.len(),
        ms(d[d.len() / 2]),
        ms(d[d.len() * 9 / 10]),
        mean,
        ms(d[0])
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let wasm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/por_contract.wasm");
    anyhow::ensure!(wasm.exists(), "{} is missing: run `make contract` first", wasm.display());
    let dir = std::env::temp_dir().join(format!("por-devnet-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opened = genesis::open_or_create(&dir, &GenesisOptions { wasm, accounts: 1, ..GenesisOptions::default() })?;
    let key = KeyFile::read(&dir.join("keys/node0.devnet.json"))?;
    let srv =
        DevnetServer::start(opened.chain, ServerConfig { produce_blocks: false, ..ServerConfig::default() }).await?;
    let client = JsonRpcClient::connect(srv.url());
    let signer = InMemorySigner::from_secret_key(key.account_id.clone(), key.private_key.clone());
    let contract: AccountId = genesis::CONTRACT_ACCOUNT.parse()?;
    let head = srv.chain().lock().map_err(|_| anyhow::anyhow!("poisoned"))?.head().hash;

    let mut nonce = 0u64;
    let mut send = |method: &str, args: serde_json::Value, deposit: u128| {
        nonce += 1;
        let tx = Transaction::V0(TransactionV0 {
            signer_id: key.account_id.clone(),
            public_key: key.public_key.clone(),
            nonce,
            receiver_id: contract.clone(),
            block_hash: head,
            actions: vec![Action::FunctionCall(Box::new(FunctionCallAction {
                method_name: method.into(),
                args: args.to_string().into_bytes(),
                gas: Gas::from_teragas(300),
                deposit: Balance::from_yoctonear(deposit),
            }))],
        });
        let (h, _) = tx.get_hash_and_size();
        SignedTransaction::new(signer.sign(h.as_ref()), tx)
    };
    let run = |tx: SignedTransaction| {
        let client = client.clone();
        async move {
            let t = Instant::now();
            let r = client
                .call(methods::send_tx::RpcSendTransactionRequest {
                    signed_transaction: tx,
                    wait_until: TxExecutionStatus::Final,
                })
                .await?;
            let el = t.elapsed();
            let o = r.final_execution_outcome.ok_or_else(|| anyhow::anyhow!("no outcome"))?.into_outcome();
            anyhow::ensure!(matches!(o.status, FinalExecutionStatus::SuccessValue(_)), "call failed: {:?}", o.status);
            anyhow::Ok((el, o.receipts_outcome[0].outcome.gas_burnt.as_gas()))
        }
    };
    // The node key proves itself over the contract and the account.
    let node = NodeSigner::from_seed([0x11; 32]);
    let proof =
        Registration { contract: contract.to_string(), account: key.account_id.to_string(), node_key: node.public() };
    let args = serde_json::json!({"node_key": node.public(), "service_ms": 10, "signature": proof.sign(&node)});
    run(send("register_node", args, 2 * NEAR)).await?;

    let mut calls = Vec::with_capacity(n);
    let mut gas = 0;
    for _ in 0..n {
        let (el, g) = run(send("add_stake", serde_json::json!({}), NEAR / 1000)).await?;
        calls.push(el);
        gas = g;
    }
    let mut views = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client
            .call(methods::query::RpcQueryRequest {
                block_reference: BlockReference::Finality(Finality::Final),
                request: QueryRequest::CallFunction {
                    account_id: contract.clone(),
                    method_name: "node".into(),
                    args: FunctionArgs::from(
                        serde_json::json!({"account_id": key.account_id}).to_string().into_bytes(),
                    ),
                },
            })
            .await?;
        views.push(t.elapsed());
    }
    println!("por-devnet RPC bench (loopback, real por_contract.wasm, protocol {})", por_devnet::PROTOCOL_VERSION);
    stats("send_tx add_stake (signed, final outcome)", calls);
    println!("  add_stake burns {:.2} Tgas in its receipt", gas as f64 / 1e12);
    stats("query call_function node (view)", views);
    srv.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

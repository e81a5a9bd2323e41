//! `por contract deploy` (the library's `deploy`) against a devnet on loopback:
//! deploy and initialise the real wasm on a funded account in one transaction.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use por_devnet::genesis::{self, GenesisOptions};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_node::chain::{ContractConfig, DeployError, DeployOptions, NearRpcChain, PorContract, deploy};

#[tokio::test]
async fn deploy_and_initialise_on_a_devnet_account() {
    let wasm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts/por_contract.wasm");
    assert!(wasm.exists(), "{} is missing: run `make contract` (make test does it first)", wasm.display());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("por-deploy-{}-{nanos}", std::process::id()));
    let opened =
        genesis::open_or_create(&dir, &GenesisOptions { wasm: wasm.clone(), accounts: 2, ..GenesisOptions::default() })
            .unwrap();
    let srv = DevnetServer::start(opened.chain, ServerConfig { produce_blocks: false, ..ServerConfig::default() })
        .await
        .unwrap();
    let account: near_primitives::types::AccountId = "node1.devnet".parse().unwrap();
    let key_file = dir.join("keys/node1.devnet.json");
    let mut config = ContractConfig::public_default(account.clone());
    config.challenge_period_ms = 1234;
    let opts = DeployOptions {
        rpc: srv.url(),
        account: account.clone(),
        key_file: key_file.clone(),
        wasm,
        config: Some(config),
    };
    deploy(&opts).await.unwrap();
    let c = PorContract::new(NearRpcChain::new(&srv.url()), account.clone());
    let got = c.config().await.unwrap();
    assert_eq!(got.challenge_period_ms, 1234);
    assert_eq!(got.owner, account);

    // Initialising twice is refused by the contract; the key must match the account.
    assert!(matches!(deploy(&opts).await, Err(DeployError::Chain(_))));
    let wrong = DeployOptions { account: "node0.devnet".parse().unwrap(), ..opts.clone() };
    assert!(matches!(deploy(&wrong).await, Err(DeployError::KeyFile { .. })));
    let missing = DeployOptions { wasm: dir.join("nope.wasm"), ..opts };
    assert!(matches!(deploy(&missing).await, Err(DeployError::MissingWasm(_))));
    srv.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

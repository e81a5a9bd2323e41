//! Function-call access keys over real JSON-RPC on loopback, sent and read
//! back with near-jsonrpc-client as any NEAR client would: a key added with
//! a `FunctionCall` permission may call its receiver's listed methods with no
//! deposit, paying gas out of its allowance, and nothing else (nearcore's
//! rules and error names); its nonce is its own; a deleted key signs nothing.

use near_crypto::{InMemorySigner, KeyType, PublicKey, SecretKey, Signer};
use near_jsonrpc_client::errors::{JsonRpcError, JsonRpcServerError};
use near_jsonrpc_client::{JsonRpcClient, methods};
use near_jsonrpc_primitives::types::transactions::RpcTransactionError;
use near_primitives::account::{AccessKey, AccessKeyPermission, FunctionCallPermission};
use near_primitives::errors::{InvalidAccessKeyError, InvalidTxError};
use near_primitives::transaction::{
    Action, AddKeyAction, DeleteKeyAction, FunctionCallAction, SignedTransaction, Transaction, TransactionV0,
    TransferAction,
};
use near_primitives::types::{AccountId, Balance, BlockReference, Finality, Gas};
use near_primitives::views::{AccessKeyPermissionView, FinalExecutionStatus, QueryRequest, TxExecutionStatus};
use por_devnet::rpc::{DevnetServer, ServerConfig};
use por_devnet::{Chain, ChainConfig};

const NEAR: u128 = 1_000_000_000_000_000_000_000_000;
const TGAS: u64 = 1_000_000_000_000;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn full_key() -> Signer {
    InMemorySigner::from_secret_key(id("alice.test"), SecretKey::from_seed(KeyType::ED25519, "alice"))
}

fn call_key() -> Signer {
    InMemorySigner::from_secret_key(id("alice.test"), SecretKey::from_seed(KeyType::ED25519, "alice-calls"))
}

/// A devnet with `alice.test` (100 NEAR, one full-access key) and two
/// contracts running the fixture, `c.test` and `other.test`.
async fn serve() -> (DevnetServer, JsonRpcClient) {
    let mut chain = Chain::new(ChainConfig::default());
    chain.create_account(id("alice.test"), 100 * NEAR, Some(full_key().public_key())).unwrap();
    let wasm = wat::parse_str(include_str!("fixtures/test_contract.wat")).unwrap();
    for c in ["c.test", "other.test"] {
        chain.create_account(id(c), 10 * NEAR, None).unwrap();
        chain.deploy(&id(c), wasm.clone()).unwrap();
    }
    let srv =
        DevnetServer::start(chain, ServerConfig { produce_blocks: false, ..ServerConfig::default() }).await.unwrap();
    let client = JsonRpcClient::connect(srv.url());
    (srv, client)
}

fn call(method: &str, deposit: u128, gas: u64) -> Action {
    Action::FunctionCall(Box::new(FunctionCallAction {
        method_name: method.into(),
        args: b"v".to_vec(),
        gas: Gas::from_gas(gas),
        deposit: Balance::from_yoctonear(deposit),
    }))
}

/// The key's nonce and permission, as `view_access_key` tells them.
async fn access_key(client: &JsonRpcClient, key: &PublicKey) -> Option<(u64, AccessKeyPermissionView)> {
    let req = methods::query::RpcQueryRequest {
        block_reference: BlockReference::Finality(Finality::Final),
        request: QueryRequest::ViewAccessKey { account_id: id("alice.test"), public_key: key.clone() },
    };
    match client.call(req).await.ok()?.kind {
        near_jsonrpc_primitives::types::query::QueryResponseKind::AccessKey(ak) => Some((ak.nonce, ak.permission)),
        _ => None,
    }
}

/// Signs `actions` to `receiver` with `signer` at the key's next nonce and
/// sends them; the final status, or the chain's refusal.
async fn send(
    client: &JsonRpcClient,
    signer: &Signer,
    receiver: &str,
    actions: Vec<Action>,
) -> Result<FinalExecutionStatus, InvalidTxError> {
    let nonce = access_key(client, &signer.public_key()).await.map_or(1, |(n, _)| n + 1);
    let block = client.call(methods::status::RpcStatusRequest).await.unwrap().sync_info.latest_block_hash;
    let tx = Transaction::V0(TransactionV0 {
        signer_id: id("alice.test"),
        public_key: signer.public_key(),
        nonce,
        receiver_id: id(receiver),
        block_hash: block,
        actions,
    });
    let (hash, _) = tx.get_hash_and_size();
    let signed = SignedTransaction::new(signer.sign(hash.as_ref()), tx);
    let req = methods::send_tx::RpcSendTransactionRequest {
        signed_transaction: signed,
        wait_until: TxExecutionStatus::Final,
    };
    match client.call(req).await {
        Ok(r) => Ok(r.final_execution_outcome.expect("an outcome").into_outcome().status),
        Err(JsonRpcError::ServerError(JsonRpcServerError::HandlerError(RpcTransactionError::InvalidTransaction {
            context,
        }))) => Err(context),
        Err(e) => panic!("not a transaction refusal: {e:?}"),
    }
}

fn add_call_key(methods: &[&str], allowance: Option<u128>) -> Action {
    Action::AddKey(Box::new(AddKeyAction {
        public_key: call_key().public_key(),
        access_key: AccessKey {
            nonce: 0,
            permission: AccessKeyPermission::FunctionCall(FunctionCallPermission {
                allowance: allowance.map(Balance::from_yoctonear),
                receiver_id: "c.test".into(),
                method_names: methods.iter().map(|m| m.to_string()).collect(),
            }),
        },
    }))
}

fn key_error(r: Result<FinalExecutionStatus, InvalidTxError>) -> InvalidAccessKeyError {
    match r {
        Err(InvalidTxError::InvalidAccessKeyError(e)) => e,
        other => panic!("expected an access key refusal, got {other:?}"),
    }
}

/// A function-call key calls its contract with no deposit; the call is
/// signed by that key (its nonce moves, the full key's does not) and its gas
/// comes out of the allowance. It cannot attach a deposit, call another
/// receiver or an unlisted method, nor send any other action.
#[tokio::test]
async fn a_function_call_key_calls_its_contract_and_nothing_else() {
    let (srv, client) = serve().await;
    let (full, calls) = (full_key(), call_key());
    let ok = send(&client, &full, "alice.test", vec![add_call_key(&["set", "get"], Some(NEAR))]).await.unwrap();
    assert!(matches!(ok, FinalExecutionStatus::SuccessValue(_)), "{ok:?}");
    let (full_nonce, _) = access_key(&client, &full.public_key()).await.unwrap();
    let (_, perm) = access_key(&client, &calls.public_key()).await.unwrap();
    match perm {
        AccessKeyPermissionView::FunctionCall { allowance, receiver_id, method_names } => {
            assert_eq!(allowance, Some(Balance::from_yoctonear(NEAR)));
            assert_eq!(receiver_id, "c.test");
            assert_eq!(method_names, vec!["set".to_string(), "get".to_string()]);
        }
        other => panic!("{other:?}"),
    }

    // Allowed: the contract, a listed method, no deposit.
    let r = send(&client, &calls, "c.test", vec![call("set", 0, 30 * TGAS)]).await.unwrap();
    assert!(matches!(r, FinalExecutionStatus::SuccessValue(_)), "{r:?}");
    assert_eq!(srv.chain().lock().unwrap().view(&id("c.test"), "get", b"").unwrap().result, b"v");
    let (calls_nonce, perm) = access_key(&client, &calls.public_key()).await.unwrap();
    let AccessKeyPermissionView::FunctionCall { allowance: Some(left), .. } = perm else { panic!("{perm:?}") };
    assert!(left.as_yoctonear() < NEAR, "gas is charged against the allowance");
    assert_eq!(
        access_key(&client, &full.public_key()).await.unwrap().0,
        full_nonce,
        "the full key's nonce did not move"
    );
    let tx = srv.chain().lock().unwrap().account(&id("alice.test")).unwrap().keys[&calls.public_key()].nonce;
    assert_eq!(tx, calls_nonce);

    // Refused, each with nearcore's error, and nothing charged.
    let balance = || srv.chain().lock().unwrap().account(&id("alice.test")).unwrap().balance;
    let before = balance();
    let e = key_error(send(&client, &calls, "c.test", vec![call("set", 1, 30 * TGAS)]).await);
    assert_eq!(e, InvalidAccessKeyError::DepositWithFunctionCall);
    let e = key_error(send(&client, &calls, "other.test", vec![call("set", 0, 30 * TGAS)]).await);
    assert!(matches!(e, InvalidAccessKeyError::ReceiverMismatch { .. }), "{e:?}");
    let e = key_error(send(&client, &calls, "c.test", vec![call("del", 0, 30 * TGAS)]).await);
    assert_eq!(e, InvalidAccessKeyError::MethodNameMismatch { method_name: "del".into() });
    let transfer = Action::Transfer(TransferAction { deposit: Balance::from_yoctonear(1) });
    let e = key_error(send(&client, &calls, "c.test", vec![transfer]).await);
    assert_eq!(e, InvalidAccessKeyError::RequiresFullAccess);
    let add = Action::AddKey(Box::new(AddKeyAction {
        public_key: SecretKey::from_seed(KeyType::ED25519, "thief").public_key(),
        access_key: AccessKey::full_access(),
    }));
    let e = key_error(send(&client, &calls, "alice.test", vec![add]).await);
    assert_eq!(e, InvalidAccessKeyError::RequiresFullAccess);
    let two = vec![call("set", 0, 10 * TGAS), call("set", 0, 10 * TGAS)];
    let e = key_error(send(&client, &calls, "c.test", two).await);
    assert_eq!(e, InvalidAccessKeyError::RequiresFullAccess);
    assert_eq!(balance(), before, "a refused transaction costs nothing");
    assert_eq!(access_key(&client, &calls.public_key()).await.unwrap().0, calls_nonce, "nor uses a nonce");
    srv.shutdown().await.unwrap();
}

/// An empty method list allows any method of the receiver; the allowance
/// runs out (`NotEnoughAllowance`); a deleted key signs nothing.
#[tokio::test]
async fn allowance_runs_out_and_a_deleted_key_signs_nothing() {
    let (srv, client) = serve().await;
    let (full, calls) = (full_key(), call_key());
    // 300 Tgas at 10⁸ yocto/gas reserves 0.03 NEAR: room for one call.
    let allowance = 40_000_000_000_000_000_000_000;
    send(&client, &full, "alice.test", vec![add_call_key(&[], Some(allowance))]).await.unwrap();
    let r = send(&client, &calls, "c.test", vec![call("del", 0, 300 * TGAS)]).await.unwrap();
    assert!(matches!(r, FinalExecutionStatus::SuccessValue(_)), "any method: {r:?}");
    let e = key_error(send(&client, &calls, "c.test", vec![call("set", 0, 300 * TGAS)]).await);
    assert!(matches!(e, InvalidAccessKeyError::NotEnoughAllowance { .. }), "{e:?}");
    // Less gas fits what is left.
    let r = send(&client, &calls, "c.test", vec![call("set", 0, 5 * TGAS)]).await.unwrap();
    assert!(matches!(r, FinalExecutionStatus::SuccessValue(_)), "{r:?}");

    let del = Action::DeleteKey(Box::new(DeleteKeyAction { public_key: calls.public_key() }));
    let r = send(&client, &full, "alice.test", vec![del]).await.unwrap();
    assert!(matches!(r, FinalExecutionStatus::SuccessValue(_)), "{r:?}");
    assert!(access_key(&client, &calls.public_key()).await.is_none());
    let e = key_error(send(&client, &calls, "c.test", vec![call("set", 0, 5 * TGAS)]).await);
    assert!(matches!(e, InvalidAccessKeyError::AccessKeyNotFound { .. }), "{e:?}");
    srv.shutdown().await.unwrap();
}

//! Engine tests with a tiny hand-written contract (`fixtures/test_contract.wat`),
//! so they do not depend on the PoR contract: rollback, storage staking,
//! deposits, transfers, signatures, nonces, time and persistence.

use near_crypto::{InMemorySigner, KeyType, SecretKey, Signer};
use near_primitives::errors::{ActionErrorKind, InvalidTxError, TxExecutionError};
use near_primitives::hash::CryptoHash;
use near_primitives::transaction::{
    Action, FunctionCallAction, SignedTransaction, Transaction, TransactionV0, TransferAction,
};
use near_primitives::types::{AccountId, Balance, Gas};
use por_devnet::{Chain, ChainConfig, DEFAULT_GAS};

const NEAR: u128 = 1_000_000_000_000_000_000_000_000;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn wasm() -> Vec<u8> {
    wat::parse_str(include_str!("fixtures/test_contract.wat")).expect("fixture parses")
}

struct Net {
    chain: Chain,
    alice: Signer,
}

/// A chain with `c.test` running the fixture (with `contract_balance`) and
/// `alice.test` holding 100 NEAR and a full-access key.
fn net(contract_balance: u128) -> Net {
    let mut chain = Chain::new(ChainConfig::default());
    let sk = SecretKey::from_seed(KeyType::ED25519, "alice");
    let alice = InMemorySigner::from_secret_key(id("alice.test"), sk.clone());
    chain.create_account(id("alice.test"), 100 * NEAR, Some(sk.public_key())).unwrap();
    chain.create_account(id("bob.test"), 10 * NEAR, None).unwrap();
    chain.create_account(id("c.test"), contract_balance, None).unwrap();
    chain.deploy(&id("c.test"), wasm()).unwrap();
    Net { chain, alice }
}

fn call(n: &mut Net, method: &str, args: &[u8], deposit: u128) -> por_devnet::TxRecord {
    n.chain.call(&id("alice.test"), &id("c.test"), method, args, deposit, DEFAULT_GAS).unwrap()
}

fn get(n: &mut Net) -> Vec<u8> {
    n.chain.view(&id("c.test"), "get", b"").unwrap().result
}

fn balance(n: &Net, a: &str) -> u128 {
    n.chain.account(&id(a)).unwrap().balance
}

fn signed_call(n: &Net, nonce: u64, method: &str, signer: &Signer) -> SignedTransaction {
    let tx = Transaction::V0(TransactionV0 {
        signer_id: id("alice.test"),
        public_key: n.alice.public_key(),
        nonce,
        receiver_id: id("c.test"),
        block_hash: n.chain.head().hash,
        actions: vec![Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: method.into(),
            args: b"signed".to_vec(),
            gas: Gas::from_gas(DEFAULT_GAS),
            deposit: Balance::ZERO,
        }))],
    });
    let (hash, _) = tx.get_hash_and_size();
    SignedTransaction::new(signer.sign(hash.as_ref()), tx)
}

#[test]
fn call_stores_logs_events_and_burns_gas() {
    let mut n = net(10 * NEAR);
    let before = balance(&n, "alice.test");
    let out = call(&mut n, "set", b"hello", 0);
    assert!(out.is_success(), "{:?}", out.failure());
    assert_eq!(get(&mut n), b"hello");
    let events = out.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "set");
    assert!(out.call_gas_burnt() > 1_000_000_000, "gas {}", out.call_gas_burnt());
    let spent = before - balance(&n, "alice.test");
    assert_eq!(spent, out.gas_burnt() as u128 * n.chain.gas_price(), "the signer pays exactly the gas burnt");
    // storage grew by key + value + 40 bytes of record overhead
    assert!(n.chain.account(&id("c.test")).unwrap().storage_usage > wasm().len() as u64 + 100);
}

#[test]
fn panic_rolls_back_state_balance_and_keeps_logs() {
    let mut n = net(10 * NEAR);
    assert!(call(&mut n, "set", b"v1", 0).is_success());
    let usage = n.chain.account(&id("c.test")).unwrap().storage_usage;
    let (alice, contract) = (balance(&n, "alice.test"), balance(&n, "c.test"));
    let out = call(&mut n, "fail", b"", 3 * NEAR);
    assert!(!out.is_success());
    assert_eq!(out.error_message().as_deref(), Some("Smart contract panicked: boom"));
    assert_eq!(out.logs().collect::<Vec<_>>(), vec!["about to fail"]);
    assert_eq!(get(&mut n), b"v1", "the write before the panic is rolled back");
    assert_eq!(n.chain.account(&id("c.test")).unwrap().storage_usage, usage);
    assert_eq!(balance(&n, "c.test"), contract, "the deposit did not stay with the contract");
    let gas = out.gas_burnt() as u128 * n.chain.gas_price();
    assert_eq!(balance(&n, "alice.test"), alice - gas, "the deposit came back; only gas was paid");
}

/// One receipt of several calls: the last fails, so the writes and removals
/// of the ones before it are undone too, and the contract's account (storage,
/// usage, balance) is exactly what it was.
#[test]
fn a_failed_action_undoes_the_whole_receipt() {
    let mut n = net(10 * NEAR);
    let fc = |method: &str, args: &[u8]| {
        Action::FunctionCall(Box::new(FunctionCallAction {
            method_name: method.into(),
            args: args.to_vec(),
            gas: Gas::from_gas(DEFAULT_GAS / 4),
            deposit: Balance::ZERO,
        }))
    };
    let state = |n: &Net| {
        let a = n.chain.account(&id("c.test")).unwrap();
        (a.storage.clone(), a.storage_usage, a.balance, a.code_hash)
    };
    let batch = |n: &mut Net, actions: Vec<Action>| {
        let before = state(n);
        let out = n.chain.execute_unsigned(&id("alice.test"), &id("c.test"), actions).unwrap();
        assert_eq!(out.error_message().as_deref(), Some("Smart contract panicked: boom"));
        assert_eq!(state(n), before, "the failed receipt changed the contract");
    };
    // A key written for the first time, then the failure: the key is gone again.
    batch(&mut n, vec![fc("set", b"new"), fc("fail", b"")]);
    assert!(n.chain.account(&id("c.test")).unwrap().storage.is_empty());
    assert!(call(&mut n, "set", b"v1", 0).is_success());
    // Overwritten twice, removed, written again: the first value comes back.
    batch(&mut n, vec![fc("set", b"v2"), fc("set", b"v3"), fc("fail", b"")]);
    batch(&mut n, vec![fc("del", b""), fc("fail", b"")]);
    batch(&mut n, vec![fc("del", b""), fc("set", b"v4"), fc("fail", b"")]);
    assert_eq!(get(&mut n), b"v1");
    // The same calls without the failure do apply.
    let out = n.chain.execute_unsigned(&id("alice.test"), &id("c.test"), vec![fc("set", b"v2"), fc("del", b"")]);
    assert!(out.unwrap().is_success());
    assert_eq!(get(&mut n), b"");
}

#[test]
fn storage_staking_is_enforced() {
    // Enough for the code and a little more, not for 20 kB of data (0.2 NEAR).
    let code_cost = (wasm().len() as u128 + 200) * 10u128.pow(19);
    let mut n = net(code_cost + NEAR / 100);
    assert!(call(&mut n, "set", b"small", 0).is_success());
    let big = vec![b'x'; 20_000];
    let out = call(&mut n, "set", &big, 0);
    match out.failure() {
        Some(TxExecutionError::ActionError(e)) => {
            assert!(matches!(e.kind, ActionErrorKind::LackBalanceForState { .. }), "{e:?}");
            assert_eq!(e.index, None);
        }
        other => panic!("expected LackBalanceForState, got {other:?}"),
    }
    assert_eq!(get(&mut n), b"small");
    // The same write with a deposit that covers it goes through.
    let out = call(&mut n, "set", &big, NEAR);
    assert!(out.is_success(), "{:?}", out.failure());
    assert_eq!(get(&mut n).len(), 20_000);
}

#[test]
fn deposits_and_transfer_receipts_move_money() {
    let mut n = net(10 * NEAR);
    let out = call(&mut n, "echo_deposit", b"", 5 * NEAR);
    assert_eq!(out.value().unwrap(), &(5 * NEAR).to_le_bytes());
    assert_eq!(balance(&n, "c.test"), 15 * NEAR);

    let out = call(&mut n, "pay", b"bob.test", 0);
    assert!(out.is_success(), "{:?}", out.failure());
    assert_eq!(out.receipts.len(), 2, "the call and its transfer");
    assert_eq!(balance(&n, "bob.test"), 11 * NEAR);
    assert_eq!(balance(&n, "c.test"), 14 * NEAR);

    // To a missing account: the transfer fails and the contract is refunded.
    let out = call(&mut n, "pay", b"ghost.test", 0);
    assert!(out.is_success(), "the call itself succeeded");
    assert!(matches!(
        &out.receipts[1].status,
        near_primitives::transaction::ExecutionStatus::Failure(TxExecutionError::ActionError(e))
            if matches!(e.kind, ActionErrorKind::AccountDoesNotExist { .. })
    ));
    assert_eq!(balance(&n, "c.test"), 14 * NEAR);
    assert!(n.chain.account(&id("ghost.test")).is_none());
}

#[test]
fn signatures_and_nonces_are_checked() {
    let mut n = net(10 * NEAR);
    let good = signed_call(&n, 1, "set", &n.alice);
    let out = n.chain.submit(good.clone()).unwrap();
    assert!(out.is_success());
    assert_eq!(get(&mut n), b"signed");
    let after = balance(&n, "alice.test");

    // The same transaction again: its recorded outcome, not a second execution.
    let again = n.chain.submit(good).unwrap();
    assert_eq!(again.hash(), out.hash());
    assert_eq!(balance(&n, "alice.test"), after);

    // A different transaction reusing nonce 1.
    let reused = signed_call(&n, 1, "fail", &n.alice);
    assert!(matches!(n.chain.submit(reused), Err(InvalidTxError::InvalidNonce { tx_nonce: 1, ak_nonce: 1 })));

    // Signed by another key.
    let mallory = InMemorySigner::from_secret_key(id("alice.test"), SecretKey::from_seed(KeyType::ED25519, "mallory"));
    let forged = signed_call(&n, 2, "set", &mallory);
    assert!(matches!(n.chain.submit(forged), Err(InvalidTxError::InvalidSignature)));

    // Built on a block the chain never had.
    let mut tx = signed_call(&n, 2, "set", &n.alice).transaction;
    if let Transaction::V0(t) = &mut tx {
        t.block_hash = CryptoHash::hash_bytes(b"elsewhere");
    }
    let (h, _) = tx.get_hash_and_size();
    let stale = SignedTransaction::new(n.alice.sign(h.as_ref()), tx);
    assert!(matches!(n.chain.submit(stale), Err(InvalidTxError::InvalidChain)));

    assert_eq!(balance(&n, "alice.test"), after, "refused transactions cost nothing");
    assert_eq!(n.chain.access_key(&id("alice.test"), &n.alice.public_key()).unwrap().nonce, 1);
}

#[test]
fn not_enough_balance_is_refused() {
    let mut n = net(10 * NEAR);
    let out = n.chain.execute_unsigned(
        &id("alice.test"),
        &id("bob.test"),
        vec![Action::Transfer(TransferAction { deposit: Balance::from_yoctonear(1000 * NEAR) })],
    );
    assert!(matches!(out, Err(por_devnet::EngineError::InvalidTx(InvalidTxError::NotEnoughBalance { .. }))));
    assert_eq!(balance(&n, "bob.test"), 10 * NEAR);
}

#[test]
fn transactions_do_not_run_the_clock_ahead_when_blocks_come_with_wall_time() {
    let mut n = net(10 * NEAR);
    n.chain.follow_wall_clock(true);
    let h0 = n.chain.head();
    for i in 0..20u8 {
        assert!(call(&mut n, "set", &[b'k', i], 0).is_success());
    }
    let h1 = n.chain.head();
    assert_eq!(h1.height, h0.height + 20, "each transaction still gets a block");
    assert_eq!(h1.timestamp_ns - h0.timestamp_ns, 20_000_000, "1 ms each, not 20 block times");
    let h2 = n.chain.produce_block();
    assert_eq!(h2.timestamp_ns - h1.timestamp_ns, 1_000_000_000, "the ticker's blocks keep block_ms");
    n.chain.follow_wall_clock(false);
    assert!(call(&mut n, "set", b"again", 0).is_success());
    assert_eq!(
        n.chain.head().timestamp_ns - h2.timestamp_ns,
        1_000_000_000,
        "alone, a transaction moves the clock a block"
    );
}

#[test]
fn time_moves_and_state_survives_persistence() {
    let mut n = net(10 * NEAR);
    let h0 = n.chain.head();
    assert!(call(&mut n, "set", b"kept", 0).is_success());
    let h1 = n.chain.head();
    assert_eq!(h1.height, h0.height + 1);
    assert_eq!(h1.timestamp_ns - h0.timestamp_ns, 1_000_000_000, "one block of 1000 ms per transaction");
    let h2 = n.chain.advance_time(60_000);
    assert_eq!(h2.timestamp_ns - h1.timestamp_ns, 60_000_000_000);

    let bytes = n.chain.to_bytes();
    let mut back = Chain::from_bytes(&bytes).unwrap();
    assert_eq!(back.head(), h2);
    assert_eq!(back.view(&id("c.test"), "get", b"").unwrap().result, b"kept");
    assert_eq!(back.account(&id("alice.test")).unwrap().balance, balance(&n, "alice.test"));
    assert!(Chain::from_bytes(&bytes[..bytes.len() / 2]).is_err(), "a truncated file is refused");
}

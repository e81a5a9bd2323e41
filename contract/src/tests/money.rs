//! Property test: random operation sequences neither create nor destroy
//! money, and nobody withdraws more than their share.

use proptest::prelude::*;

use super::*;

const NAMES: [&str; 5] = ["p0", "p1", "p2", "p3", "p4"];

#[derive(Debug, Clone)]
enum Op {
    Register(usize, u8),
    AddStake(usize, u8),
    Open(usize, usize, u8),
    Confirm(usize, u8),
    Cancel(usize),
    Pay(usize, u8),
    ProposeClose(usize),
    ConfirmClose(usize),
    Sever(usize),
    Submit(usize),
    Finalize(usize),
    Continue,
    Leave(usize),
    Rejoin(usize, u8),
    Withdraw(usize, u8),
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..NAMES.len();
    let c = 0usize..8;
    prop_oneof![
        (p.clone(), any::<u8>()).prop_map(|(a, s)| Op::Register(a, s)),
        (p.clone(), any::<u8>()).prop_map(|(a, s)| Op::AddStake(a, s)),
        (p.clone(), p.clone(), any::<u8>()).prop_map(|(a, b, d)| Op::Open(a, b, d)),
        (c.clone(), any::<u8>()).prop_map(|(i, d)| Op::Confirm(i, d)),
        c.clone().prop_map(Op::Cancel),
        (c.clone(), any::<u8>()).prop_map(|(i, x)| Op::Pay(i, x)),
        c.clone().prop_map(Op::ProposeClose),
        c.clone().prop_map(Op::ConfirmClose),
        c.clone().prop_map(Op::Sever),
        c.clone().prop_map(Op::Submit),
        c.clone().prop_map(Op::Finalize),
        Just(Op::Continue),
        p.clone().prop_map(Op::Leave),
        (p.clone(), any::<u8>()).prop_map(|(a, s)| Op::Rejoin(a, s)),
        (p.clone(), any::<u8>()).prop_map(|(a, x)| Op::Withdraw(a, x)),
        any::<u16>().prop_map(Op::Tick),
    ]
}

/// What the test knows about each channel: its sides and the best voucher
/// each side holds from the other.
#[derive(Debug, Clone, Default)]
struct Known {
    a: usize,
    b: usize,
    paid_by_a: u128,
    paid_by_b: u128,
}

/// Runs `ops`; returns how many calls succeeded per operation kind.
fn run(ops: Vec<Op>) -> std::collections::BTreeMap<&'static str, u32> {
    let mut ok = std::collections::BTreeMap::new();
    let unit = N / 10;
    let mut ch = Chain::new(|c| {
        c.min_stake = unit.into();
        c.severance_penalty = (unit / 2).into();
        c.partition_step_budget = 3;
        c.settle_batch = 1;
        c.challenge_period_ms = 1_000;
        c.proposal_timeout_ms = 1_000;
        c.claim_ttl_ms = 30_000;
        c.partition_slash_bps = 3_333;
    });
    let mut chans: Vec<(u64, Known)> = Vec::new();
    let fee = ch.view(|c| c.config.node_storage_fee.0);
    let cfee = ch.view(|c| c.config.channel_storage_fee.0);
    let mut keygen = 0u32;
    let mut keys: [Option<String>; 5] = Default::default();
    for op in ops {
        let kind = kind(&op);
        ch.logs.clear();
        match op {
            Op::Register(a, s) => {
                keygen += 1;
                let kname = format!("{}-{keygen}", NAMES[a]);
                let key = signer(&kname).public();
                if ch.try_call(NAMES[a], fee + unit * (1 + s as u128 % 4), |c| c.register_node(key, 1)).is_ok() {
                    keys[a] = Some(kname);
                }
            }
            Op::AddStake(a, s) => {
                let _ = ch.try_call(NAMES[a], unit * (s as u128 % 3), |c| c.add_stake());
            }
            Op::Open(a, b, d) => {
                if let Ok(id) = ch.try_call(NAMES[a], cfee + unit * (d as u128 % 4), |c| {
                    c.open_channel(acc(NAMES[b]), 10, 1.into(), 0.into())
                }) {
                    chans.push((id, Known { a, b, ..Default::default() }));
                }
            }
            Op::Confirm(i, d) => {
                if let Some((id, k)) = chans.get(i) {
                    let id = *id;
                    let _ = ch.try_call(NAMES[k.b], unit * (d as u128 % 4), |c| c.confirm_channel(id));
                }
            }
            Op::Cancel(i) => {
                if let Some((id, k)) = chans.get(i) {
                    let id = *id;
                    let _ = ch.try_call(NAMES[k.a], 0, |c| c.cancel_proposal(id));
                }
            }
            Op::Pay(i, x) => {
                // Off chain: one side pays the other a little (possibly more
                // than it can cover: the contract must cope).
                if let Some((_, k)) = chans.get_mut(i) {
                    let amt = unit / 4 * (x as u128 % 3 + 1);
                    if x % 2 == 0 { k.paid_by_a += amt } else { k.paid_by_b += amt }
                }
            }
            Op::ProposeClose(i) | Op::Sever(i) | Op::ConfirmClose(i) | Op::Submit(i) => {
                let Some((id, k)) = chans.get(i).cloned() else { continue };
                // Proposer and severer submit what the peer (b) paid; the
                // confirmer and challenger what the opener (a) paid.
                let (who, payer, amt) = match op {
                    Op::ProposeClose(_) | Op::Sever(_) => (NAMES[k.a], k.b, k.paid_by_b),
                    _ => (NAMES[k.b], k.a, k.paid_by_a),
                };
                let sv = match (&keys[payer], amt) {
                    (Some(kname), amt) if amt > 0 => {
                        let s = signer(kname);
                        Some(
                            Voucher {
                                contract: CONTRACT.into(),
                                channel: ChannelId(id),
                                payer: s.public(),
                                cumulative: amt,
                            }
                            .sign(&s),
                        )
                    }
                    _ => None,
                };
                let _ = match op {
                    Op::ProposeClose(_) => ch.try_call(who, 0, |c| c.propose_close(id, sv)).map(|_| ()),
                    Op::ConfirmClose(_) => ch.try_call(who, 0, |c| c.confirm_close(id, sv)).map(|_| ()),
                    Op::Sever(_) => ch.try_call(who, 0, |c| c.sever(id, sv)).map(|_| ()),
                    _ => match sv {
                        Some(sv) => ch.try_call(who, 0, |c| c.submit_voucher(id, sv)).map(|_| ()),
                        None => Ok(()),
                    },
                };
            }
            Op::Finalize(i) => {
                if let Some((id, _)) = chans.get(i) {
                    let id = *id;
                    let _ = ch.try_call("anyone", 0, |c| c.finalize(id));
                }
            }
            Op::Continue => {
                let _ = ch.try_call("anyone", 0, |c| c.continue_partition_check());
            }
            Op::Leave(a) => {
                let _ = ch.try_call(NAMES[a], 0, |c| c.leave());
            }
            Op::Rejoin(a, s) => {
                let _ = ch.try_call(NAMES[a], unit * (s as u128 % 2), |c| c.rejoin());
            }
            Op::Withdraw(a, x) => {
                let have = ch.view(|c| c.balances(acc(NAMES[a]))).withdrawable.0;
                // Sometimes try more than the share: must be refused.
                let ask = if x % 5 == 0 { have + 1 } else { have / 2 + 1 };
                let r = ch.withdraw(NAMES[a], ask);
                assert_eq!(r.is_ok(), ask <= have, "withdraw of {ask} with {have} available: {r:?}");
            }
            Op::Tick(t) => ch.now_ms += t as u64,
        }
        if !ch.logs.is_empty() {
            *ok.entry(kind).or_insert(0) += 1;
        }
        ch.assert_conserved();
        let balances: u128 =
            NAMES.iter().chain([&OWNER]).map(|n| ch.view(|c| c.balances(acc_any(n))).withdrawable.0).sum();
        assert_eq!(balances, ch.totals().balances.0, "balances total drifted");
    }
    ok
}

fn kind(op: &Op) -> &'static str {
    match op {
        Op::Register(..) => "register",
        Op::AddStake(..) => "add_stake",
        Op::Open(..) => "open",
        Op::Confirm(..) => "confirm",
        Op::Cancel(..) => "cancel",
        Op::Pay(..) => "pay",
        Op::ProposeClose(..) => "propose_close",
        Op::ConfirmClose(..) => "confirm_close",
        Op::Sever(..) => "sever",
        Op::Submit(..) => "submit",
        Op::Finalize(..) => "finalize",
        Op::Continue => "continue",
        Op::Leave(..) => "leave",
        Op::Rejoin(..) => "rejoin",
        Op::Withdraw(..) => "withdraw",
        Op::Tick(..) => "tick",
    }
}

fn acc_any(n: &str) -> AccountId {
    if n.contains('.') { n.parse().unwrap() } else { acc(n) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_conserve_money(ops in prop::collection::vec(op(), 1..80)) {
        run(ops);
    }
}

#[test]
fn a_scripted_sequence_conserves_money() {
    use Op::*;
    let ok = run(vec![
        Register(0, 3),
        Register(1, 0),
        Register(2, 1),
        Open(0, 1, 2),
        Register(3, 0),
        Open(3, 0, 1),
        Cancel(2),
        Tick(1_000),
        Cancel(2),
        Confirm(0, 1),
        Open(1, 2, 1),
        Confirm(1, 3),
        Pay(1, 2),
        Pay(1, 1),
        Sever(1),
        Continue,
        Continue,
        Continue,
        Submit(1),
        Tick(2_000),
        Finalize(1),
        Withdraw(0, 1),
        Withdraw(1, 5),
        Open(0, 2, 1),
        Confirm(3, 1),
        ProposeClose(3),
        ConfirmClose(3),
        Leave(2),
        Withdraw(2, 1),
    ]);
    println!("{ok:?}");
    for k in
        ["register", "open", "confirm", "sever", "submit", "finalize", "propose_close", "confirm_close", "withdraw"]
    {
        assert!(ok.get(k).copied().unwrap_or(0) > 0, "the script should exercise {k}: {ok:?}");
    }
}

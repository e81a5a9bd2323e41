//! The owner's bounded powers (DESIGN §2.8): every config value has limits,
//! and a change takes effect only `config_delay_ms` after it is submitted,
//! announced by an event and visible meanwhile in `pending_config`.

use super::*;
use crate::config::limits;

/// A config with one field changed by `f`, starting from the defaults.
fn changed(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::with_defaults(OWNER.parse().unwrap());
    f(&mut c);
    c
}

#[test]
fn every_value_outside_its_limits_is_refused_by_name() {
    let mut ch = Chain::new(|_| {});
    type Case = (&'static str, fn(&mut Config));
    let cases: [Case; 22] = [
        ("min_stake", |c| c.min_stake = 0.into()),
        ("min_stake", |c| c.min_stake = (limits::MIN_STAKE.1 + 1).into()),
        ("severance_penalty", |c| c.severance_penalty = (limits::SEVERANCE_PENALTY.1 + 1).into()),
        ("challenge_period_ms", |c| c.challenge_period_ms = 99),
        ("challenge_period_ms", |c| {
            c.challenge_period_ms = limits::CHALLENGE_PERIOD_MS.1 + 1;
            c.reconnect_window_ms = limits::CHALLENGE_PERIOD_MS.1 + 2;
        }),
        ("reconnect_window_ms", |c| c.reconnect_window_ms = limits::RECONNECT_WINDOW_MS.1 + 1),
        ("proposal_timeout_ms", |c| c.proposal_timeout_ms = limits::PROPOSAL_TIMEOUT_MS.1 + 1),
        ("partition_slash_bps", |c| c.partition_slash_bps = 10_001),
        ("late_fee_per_sec", |c| c.late_fee_per_sec = (limits::LATE_FEE_PER_SEC.1 + 1).into()),
        ("max_late_ms", |c| c.max_late_ms = 999),
        ("max_late_ms", |c| c.max_late_ms = limits::MAX_LATE_MS.1 + 1),
        ("claim_ttl_ms", |c| c.claim_ttl_ms = limits::CLAIM_TTL_MS.1 + 1),
        ("partition_step_budget", |c| c.partition_step_budget = 0),
        ("partition_step_budget", |c| c.partition_step_budget = limits::PARTITION_STEP_BUDGET.1 + 1),
        ("settle_batch", |c| c.settle_batch = 0),
        ("settle_batch", |c| c.settle_batch = 101),
        ("node_storage_fee", |c| c.node_storage_fee = (limits::STORAGE_FEE.1 + 1).into()),
        ("channel_storage_fee", |c| c.channel_storage_fee = (limits::STORAGE_FEE.1 + 1).into()),
        ("claim_storage_fee", |c| c.claim_storage_fee = (c.severance_penalty.0 / 2 + 1).into()),
        ("config_delay_ms", |c| c.config_delay_ms = 999),
        ("config_delay_ms", |c| c.config_delay_ms = limits::CONFIG_DELAY_MS.1 + 1),
        ("reconnect_window_ms", |c| c.reconnect_window_ms = c.challenge_period_ms),
    ];
    for (field, f) in cases {
        let cfg = changed(f);
        let e = ch.try_call(OWNER, 0, |c| c.update_config(cfg)).expect_err(field);
        assert!(e.contains(&format!("config: {field}")), "{field}: {e}");
        assert!(e.contains("must be"), "{field}: the refusal states the limit: {e}");
    }
    assert!(ch.view(|c| c.pending_config()).is_none(), "nothing refused is pending");
    // The limits themselves are accepted.
    let edge = changed(|c| {
        c.partition_slash_bps = 10_000;
        c.late_fee_per_sec = limits::LATE_FEE_PER_SEC.1.into();
        c.max_late_ms = limits::MAX_LATE_MS.0;
        c.config_delay_ms = limits::CONFIG_DELAY_MS.0;
    });
    ch.call(OWNER, 0, |c| c.update_config(edge));
}

#[test]
fn a_change_takes_effect_after_the_delay_announced_by_events() {
    let mut ch = Chain::new(|c| c.config_delay_ms = 10_000);
    let mut cfg = ch.view(|c| c.config());
    cfg.late_fee_per_sec = (3 * cfg.late_fee_per_sec.0).into();
    cfg.max_late_ms = 30_000;
    let bad = cfg.clone();
    ch.refuse("mallory", 0, "only the owner", |c| c.update_config(bad));
    let submitted = ch.now_ms;
    let at = ch.call(OWNER, 0, |c| c.update_config(cfg.clone()));
    assert_eq!(at, submitted + 10_000);
    let ev = ch.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].0, "config_proposed");
    assert_eq!(ev[0].1["effective_ms"], at);
    assert_eq!(ev[0].1["config"]["max_late_ms"], 30_000);
    // Not in force yet: the view shows the old config and the pending one.
    assert_eq!(ch.view(|c| c.config()).max_late_ms, 60_000);
    let pending = ch.view(|c| c.pending_config()).expect("pending");
    assert_eq!((pending.effective_ms, pending.config.clone()), (at, cfg.clone()));
    ch.register("alice", 2 * N);
    assert_eq!(ch.event_names(), ["node_registered"], "no change before its time");
    // At its time the view shows it at once, and the next call applies it.
    ch.now_ms = at;
    assert_eq!(ch.view(|c| c.config()), cfg);
    assert!(ch.view(|c| c.pending_config()).is_none());
    ch.register("bob", 2 * N);
    assert_eq!(ch.event_names(), ["config_updated", "node_registered"]);
    assert_eq!(ch.events()[0].1["effective_ms"], at);
    assert_eq!(ch.view(|c| c.config.clone()), cfg, "stored in force");
    ch.assert_conserved();
}

#[test]
fn a_new_submission_replaces_the_pending_one_and_the_delay_in_force_applies() {
    let mut ch = Chain::new(|c| c.config_delay_ms = 10_000);
    // Shortening the delay is itself delayed by the delay in force.
    let short = changed(|c| c.config_delay_ms = 1_000);
    let at = ch.call(OWNER, 0, |c| c.update_config(short.clone()));
    assert_eq!(at, ch.now_ms + 10_000);
    ch.now_ms += 5_000;
    let other = changed(|c| {
        c.config_delay_ms = 2_000;
        c.max_late_ms = 20_000;
    });
    let at2 = ch.call(OWNER, 0, |c| c.update_config(other.clone()));
    assert_eq!(at2, ch.now_ms + 10_000, "still the delay in force, not the submitted one");
    assert_eq!(ch.events()[0].1["replaces"], true);
    ch.now_ms = at;
    assert_eq!(ch.view(|c| c.config()).config_delay_ms, 10_000, "the replaced config never applies");
    ch.now_ms = at2;
    assert_eq!(ch.view(|c| c.config()), other);
}

#[test]
fn the_owner_cannot_take_treasury_or_change_terms_at_once() {
    // A hostile owner raising the late fee and the slash: nothing changes
    // for a node until the delay has passed.
    let mut ch = Chain::new(|c| c.config_delay_ms = 60_000);
    ch.register("alice", 2 * N);
    let hostile = changed(|c| {
        c.partition_slash_bps = 10_000;
        c.severance_penalty = (4 * N).into();
        c.claim_storage_fee = N.into();
    });
    ch.call(OWNER, 0, |c| c.update_config(hostile));
    ch.register("bob", 2 * N);
    let id = ch.open("alice", "bob", N, N);
    ch.call("alice", 0, |c| c.sever(id, None));
    let half = N / 20;
    assert_eq!(ch.view(|c| c.node(acc("alice"))).unwrap().stake.0, 2 * N - half, "the old penalty applied");
    ch.assert_conserved();
}

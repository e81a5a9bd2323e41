//! The settlement as the scenarios see it: every node outside a partitioned
//! side that cut an edge towards it gets its half-penalty back (the slash
//! covers the claims in these scenarios), before anything of the slash goes
//! to the treasury; no honest node is partitioned.

mod common;
use common::scenario;

#[test]
fn every_cut_towards_a_partitioned_side_is_paid_back() {
    for name in ["offline-probed", "sockpuppets", "withholding-relays"] {
        let (s, sim) = por_sim::run(scenario(name), None).unwrap();
        let chain = &sim.chain;
        let half = chain.rules().penalty / 2;
        let mut owed = vec![0u128; sim.nodes.len()];
        let mut checked = 0;
        for (by, other) in chain.cuts() {
            if !chain.partitioned(by) && chain.partitioned(other) {
                owed[by as usize] += half;
                checked += 1;
            }
        }
        assert!(checked > 0, "{name}: no cut towards a partitioned side");
        for (n, want) in owed.iter().enumerate() {
            let got = chain.books[n].reimbursed;
            assert!(
                got >= *want,
                "{name}: node {n} was paid back {got} of the {want} its cuts towards the partitioned side cost it"
            );
        }
        assert_eq!(chain.held(), chain.total, "{name}: money is conserved");
        for (i, node) in sim.nodes.iter().enumerate() {
            if node.class == "honest" {
                assert!(!chain.partitioned(i as u32), "{name}: honest {} partitioned", node.name);
            }
        }
        assert!(!s.partitioned.is_empty(), "{name}");
    }
}

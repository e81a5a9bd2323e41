//! The PoR NEAR contract (issue #3). Until it lands this crate holds nothing.

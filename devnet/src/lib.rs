//! The embedded devnet (issue #4). Until it lands this crate holds nothing.

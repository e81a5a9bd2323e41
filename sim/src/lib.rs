//! The PoR simulator (issue #7). Until it lands this crate holds nothing.

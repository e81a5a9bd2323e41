//! What one request's signatures cost with real ed25519 at batch sizes 1,
//! 8 and 32 (DESIGN §2.12): the server signs a turn's responses under one
//! root, a hop verifies them (one verification per batch, remembered in a
//! `RootCache`, and a path walk per response). Batch 1 is what wire v1
//! cost: one signature and one verification per response.
//!
//! `cargo bench -p por-core --bench batch_sign` (no criterion: medians of
//! repeated timed rounds, printed as a table). Each round uses a fresh
//! cache, as a hop meets each batch once.

use std::hint::black_box;
use std::time::Instant;

use por_core::merkle::{Batch, RootCache, blake3, response_leaf, sign_batch};
use por_core::{Ed25519Verifier, NodeSigner, RequestId, Response, Signer};

const BODY: usize = 256;
const ROUNDS: usize = 31;

fn responses(n: usize, server: &por_core::NodeKey) -> Vec<Response> {
    (0..n).map(|i| Response::unsigned(RequestId([i as u8; 32]), *server, vec![i as u8; BODY])).collect()
}

/// Nanoseconds per response to sign a batch of `n`, and to verify it at a hop.
fn measure(n: usize, reps: usize) -> (f64, f64) {
    let server = NodeSigner::from_seed([9; 32]);
    let key = server.public();
    let mut sign_ns = Vec::with_capacity(ROUNDS);
    let mut verify_ns = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut batches = Vec::with_capacity(reps);
        let t = Instant::now();
        for _ in 0..reps {
            let mut rs = responses(n, &key);
            let leaves: Vec<_> = rs.iter().map(|r| response_leaf(&r.request_id, &blake3(&r.body))).collect();
            let (sig, paths) = sign_batch(Batch::Responses, &leaves, &server);
            for (r, p) in rs.iter_mut().zip(paths) {
                r.signature = sig;
                r.path = p;
            }
            batches.push(rs);
        }
        sign_ns.push(t.elapsed().as_nanos() as f64 / (reps * n) as f64);
        let t = Instant::now();
        for rs in &batches {
            let mut cache = RootCache::default();
            for r in rs {
                assert!(r.verify_cached(&r.request_id, &key, &mut cache, &Ed25519Verifier));
            }
            black_box(&cache);
        }
        verify_ns.push(t.elapsed().as_nanos() as f64 / (reps * n) as f64);
    }
    (median(&mut sign_ns), median(&mut verify_ns))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Nanoseconds per byte to hash a `len`-byte body with SHA-256 and BLAKE3.
fn hash_cost(len: usize) -> (f64, f64) {
    let body = vec![7u8; len];
    let reps = (64 << 20) / len;
    let mut sha = Vec::with_capacity(ROUNDS);
    let mut b3 = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..reps {
            black_box(por_core::sha256(black_box(&body)));
        }
        sha.push(t.elapsed().as_nanos() as f64 / (reps * len) as f64);
        let t = Instant::now();
        for _ in 0..reps {
            black_box(blake3(black_box(&body)));
        }
        b3.push(t.elapsed().as_nanos() as f64 / (reps * len) as f64);
    }
    (median(&mut sha), median(&mut b3))
}

fn main() {
    // Warm up (key decompression cache, CPU clocks).
    let _ = measure(8, 20);
    println!("batch_sign: real ed25519, {BODY}-byte bodies, median of {ROUNDS} rounds, per response");
    println!("{:>6} {:>12} {:>12} {:>12} {:>10}", "batch", "sign_us", "verify_us", "total_us", "vs_batch1");
    let mut base = None;
    for n in [1usize, 8, 32] {
        let reps = 512 / n;
        let (s, v) = measure(n, reps);
        let total = s + v;
        let b = *base.get_or_insert(total);
        println!("{:>6} {:>12.2} {:>12.2} {:>12.2} {:>10.3}", n, s / 1e3, v / 1e3, total / 1e3, total / b);
    }
    println!("body hash, median of {ROUNDS} rounds over 64 MiB each");
    println!("{:>10} {:>12} {:>12} {:>14}", "body", "sha256_GB/s", "blake3_GB/s", "blake3/sha256");
    for len in [256usize, 4096, 1 << 20] {
        let (sha, b3) = hash_cost(len);
        println!("{:>10} {:>12.2} {:>12.2} {:>14.2}", len, 1.0 / sha, 1.0 / b3, sha / b3);
    }
}

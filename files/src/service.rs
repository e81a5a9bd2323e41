//! The provider side: the `files` PoR service, answering range and tail
//! requests with the blocks and their proof from the store.
//!
//! Statuses: 200 with a [`RangeReply`]; 400 for a malformed or out-of-range
//! request; 404 when this node does not hold the file; 413 when the request's
//! response allowance cannot hold the range; 500 when the store fails.

use std::sync::Arc;

use super::id::ContentId;
use super::store::{Store, StoreError};
use super::tree::{block_count, range_len};
use super::wire::{FileRequest, MAX_BLOCKS_PER_REQUEST, RangeReply};
use por_node::service::{BoxFuture, Reply, STATUS_FAILED, Service, ServiceRequest};

/// The `files` service over a store.
pub struct FilesService {
    store: Arc<Store>,
    test_fault_corrupt_blocks: bool,
}

impl FilesService {
    /// Serves what `store` holds. `test_fault_corrupt_blocks` is a **test
    /// fault**: when set, every block served has one byte flipped (after the
    /// proof is made), so fetchers must catch it.
    pub fn new(store: Arc<Store>, test_fault_corrupt_blocks: bool) -> Self {
        FilesService { store, test_fault_corrupt_blocks }
    }

    fn answer(&self, req: &ServiceRequest) -> Reply {
        let r = match FileRequest::decode(&req.body) {
            Ok(r) => r,
            Err(why) => return Reply::error(400, why),
        };
        let (id, first, count) = match r {
            FileRequest::Range { id, first, count } => {
                if count == 0 || count > MAX_BLOCKS_PER_REQUEST {
                    return Reply::error(400, format!("ask for 1 to {MAX_BLOCKS_PER_REQUEST} blocks, not {count}"));
                }
                (id, first, count)
            }
            FileRequest::Tail { id } => match self.store.outboard(&id) {
                Ok(ob) => (id, block_count(ob.size()) - 1, 1),
                Err(e) => return store_error(&id, e),
            },
        };
        let (size, proof) = match self.store.prove_range(&id, first, count as u64) {
            Ok(Some(r)) => r,
            Ok(None) => return Reply::error(400, format!("blocks {first}+{count} are past the end of {id}")),
            Err(e) => return store_error(&id, e),
        };
        let len = range_len(size, first, count as u64) as usize;
        // The blocks are read straight into the reply's bytes: no copy.
        let (mut body, at) = RangeReply::encode_in_place(size, first, count, len, &proof);
        // The envelope takes at most two bytes per body byte (see
        // `wire::response_allowance`); checked before anything is read.
        let need = 2 * body.len() as u64 + 64;
        if need > req.max_response_bytes {
            return Reply::error(413, format!("the range needs a response allowance of {need} bytes"));
        }
        if let Err(e) = self.store.read_blocks(&id, first, &mut body[at.clone()]) {
            return store_error(&id, e);
        }
        if self.test_fault_corrupt_blocks && len > 0 {
            body[at.start + len / 2] ^= 0x55;
        }
        Reply::ok(body)
    }
}

fn store_error(id: &ContentId, e: StoreError) -> Reply {
    match e {
        StoreError::NotFound(_) => Reply::error(404, format!("this node does not hold {id}")),
        e => Reply::error(STATUS_FAILED, e.to_string()),
    }
}

impl Service for FilesService {
    fn call(&self, req: ServiceRequest) -> BoxFuture<Reply> {
        let me = FilesService { store: self.store.clone(), test_fault_corrupt_blocks: self.test_fault_corrupt_blocks };
        Box::pin(async move {
            tokio::task::spawn_blocking(move || me.answer(&req))
                .await
                .unwrap_or_else(|e| Reply::error(STATUS_FAILED, format!("the files handler failed: {e}")))
        })
    }
}
